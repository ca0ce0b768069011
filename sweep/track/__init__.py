"""What else sees a running study: experiment trackers, Optuna's dashboard, a notification at the end.

xstilts' Parquet tables are the record of a study; these are views of it, kept as it runs, for the tools
researchers already watch. Each trial is one run, grouped by its search: MLflow nests a search's trials
under a run of its own, W&B groups by sweep with the search as ``job_type``, TensorBoard lays its event
files out as ``<search>/<trial>``, and every search is an Optuna study in one journal file, which
``optuna-dashboard`` shows side by side. A tracker that fails stops with one note; the study goes on.

Above ``sweep.plan`` (a search is what it groups by), below ``sweep.preflight`` (which checks its settings).

* ``trackers``: ``Trackers``, what the driver calls at each result, retry, trial end and search end;
* ``naming``: a run's tags and its metrics' readable names;
* ``mlflow_runs``, ``wandb_runs``, ``tensorboard_runs``: one tracker each, on the trackers' own clients;
* ``optuna_journal``: every search as a study in ``SWEEP_DIR/optuna-journal.log``;
* ``notify``: a JSON message to a webhook when the study ends or a search fails.
"""

from sweep import offers

#: What the subpackage offers, each imported on first use (``sweep.offers``).
__getattr__ = offers(
    __name__,
    {
        "JOURNAL_FILE": "sweep.track.optuna_journal",
        "TrialInfo": "sweep.track.naming",
        "Trackers": "sweep.track.trackers",
        "open_trackers": "sweep.track.trackers",
        "tracking_problems": "sweep.track.trackers",
    },
)
__all__ = ["JOURNAL_FILE", "TrialInfo", "Trackers", "open_trackers", "tracking_problems"]
