"""What a config asks to run: its searches, the graph they form, and what identifies a stage one.

Above ``sweep.config`` (it reads records), below everything that checks or runs them.

* ``searches``: one search per intermediate entry (stage one) and per (intermediate, target, regime)
  pair, with the seeds' re-runs and the retrieval evaluations;
* ``study``: the searches as a dependency graph, and which one gets the next free slot;
* ``stage_one``: everything that decides a stage one's result, hashed into its checkpoint-store key.
"""

from sweep.plan.searches import NONE, ZERO_SHOT, Search, eval_languages, is_evaluation, plan, stage_one_id
from sweep.plan.study import Study

__all__ = ["NONE", "ZERO_SHOT", "Search", "Study", "eval_languages", "is_evaluation", "plan", "stage_one_id"]
