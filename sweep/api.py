"""The notebook API: one or more sweeps' analyses as ``pyarrow.Table``s, or pandas / polars frames on request.

Example::

    from sweep.api import Analysis

    study = Analysis(["sweeps/xstilts-xlmr", "s3://bucket/sweeps/xstilts-mbert"])
    study.matrix()                                   # pyarrow.Table, as `sweep query --pivot`
    study.by("family", as_="pandas")                 # as `sweep query --by family`
    study.stats(as_="polars")                        # as `sweep query --stats` (needs polars installed)
    study.sql("SELECT model, avg(value) FROM best GROUP BY model")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from sweep.analysis import analyses
from sweep.analysis.tables import Results, to


class Analysis:
    """The analyses of ``sweep query`` over ``locations`` (folders or URIs); every method takes ``as_``:
    ``arrow`` (default), ``pandas`` or ``polars``."""

    def __init__(self, locations: Sequence[str | Path], *, skip_bad: bool = False) -> None:
        self.results = Results(locations, skip_bad=skip_bad)

    def sql(self, query: str, *, as_: str = "arrow") -> Any:
        """SQL over the views (``sweep.analysis.tables``)."""
        return to(self.results.sql(query), as_)

    def rows(self, *, where: Sequence[str] = (), as_: str = "arrow") -> Any:
        """The protocol's test scores, a row per run and language (the ``best`` view, headline metric)."""
        return to(analyses.scores(self.results, where=where), as_)

    def matrix(self, *, where: Sequence[str] = (), language: str | None = None, as_: str = "arrow") -> Any:
        """The intermediate x target matrix with gains over the baseline."""
        return _table(analyses.matrix(self.results, where=where, language=language), as_)

    def by(self, grouping: str, *, where: Sequence[str] = (), as_: str = "arrow") -> Any:
        """Each pair's score and gain per ``language``, ``family``, ``genus`` or ``script``."""
        return _table(analyses.pair_scores(self.results, by=grouping, where=where), as_)

    def stats(self, *, where: Sequence[str] = (), replicates: int = 1000, as_: str = "arrow") -> Any:
        """Means, spreads and 95% intervals of each pair's score and gain."""
        return _table(analyses.pair_stats(self.results, where=where, replicates=replicates), as_)

    def progress(self, *, where: Sequence[str] = (), as_: str = "arrow") -> Any:
        """Each search's trials in order, with the expected best of k trials."""
        return _table(analyses.search_progress(self.results, where=where), as_)

    def benchmark(self, version: str, *, where: Sequence[str] = (), as_: str = "arrow") -> Any:
        """XTREME (``xtreme``) or XTREME-R (``xtreme-r``) task, group and overall scores."""
        return _table(analyses.benchmark_table(self.results, version=version, where=where), as_)


def _table(rows: list[dict[str, Any]], kind: str) -> Any:
    return to(pa.Table.from_pylist(rows), kind)
