"""Running a study: the driver, its Ray Tune wiring, and what each trial runs.

Above ``sweep.preflight`` (a study is checked before it starts), beside ``sweep.analysis`` (neither
imports the other).

* ``driver``: ``launch`` and ``resume``, the Python API behind ``sweep launch`` / ``sweep resume``;
* ``runner``: the driver's side of a running study (trial configs, results, each search's end);
* ``tuning``: the searcher, scheduler and callback that connect one Tune run to every search;
* ``reuse``: the checkpoint store as a running study uses it; ``recorder``: results into rows;
* ``progress``: one line per event; ``smoke``: any study, tiny, on a CPU;
* ``trainable``, ``trial_run``, ``workers``: what a trial runs, on one worker or a Ray Train group.
"""

from sweep import offers

#: What the subpackage offers, each imported on first use (``sweep.offers``).
__getattr__ = offers(
    __name__,
    {
        "launch": "sweep.run.driver",
        "resume": "sweep.run.driver",
    },
)
__all__ = ["launch", "resume"]
