"""Reading finished and running sweeps: SQL views over their results, the protocol's selection, group
scores, benchmark scores and statistics. Nothing here needs Ray.

Above ``sweep.preflight`` (a sweep's config is read as it was checked), beside ``sweep.run``.

* ``sweeps``: opening one or more sweep folders or URIs, the record every reader shares;
* ``tables``: DuckDB views over the Parquet files (``Results``); ``catalog``: small tables about the sweeps;
* ``analyses``: the matrix, groups, statistics and benchmark scores; ``query``: rows and the matrix as lists;
* ``benchmark``: XTREME / XTREME-R scores as ``evaluate.py`` computes them; ``stats``: t-intervals and the
  expected best of k; ``bootstrap``: paired bootstrap intervals;
* ``status``: a sweep's per-search progress; ``taskinfo``: tasks, converted data and scored predictions.
"""

from sweep import offers

#: What the subpackage offers, each imported on first use (``sweep.offers``).
__getattr__ = offers(
    __name__,
    {
        "Results": "sweep.analysis.tables",
    },
)
__all__ = ["Results"]
