"""What a config asks to run: its searches, the graph they form, and what identifies a stage one.

Above ``sweep.config`` (it reads records), below everything that checks or runs them.

* ``searches``: one search per intermediate entry (stage one) and per (intermediate, target, regime)
  pair, with the seeds' re-runs and the retrieval evaluations;
* ``study``: the searches as a dependency graph, and which one gets the next free slot;
* ``stage_one``: everything that decides a stage one's result, hashed into its checkpoint-store key.
"""

from sweep import offers

#: What the subpackage offers, each imported on first use (``sweep.offers``).
__getattr__ = offers(
    __name__,
    {
        "NONE": "sweep.plan.searches",
        "Search": "sweep.plan.searches",
        "Study": "sweep.plan.study",
        "ZERO_SHOT": "sweep.plan.searches",
        "eval_languages": "sweep.plan.searches",
        "is_evaluation": "sweep.plan.searches",
        "plan": "sweep.plan.searches",
        "stage_one_id": "sweep.plan.searches",
    },
)
__all__ = ["NONE", "Search", "Study", "ZERO_SHOT", "eval_languages", "is_evaluation", "plan", "stage_one_id"]
