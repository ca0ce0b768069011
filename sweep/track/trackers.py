"""The driver's one handle on every tracker: each event goes to all of them, and a tracker that fails is
dropped with one note, so that a tracking server going down never stops a study."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from sweep.config.records import SweepConfig
from sweep.plan.searches import Search
from sweep.storage import layout
from sweep.track.naming import TrialInfo

WANDB_MODES = ("online", "offline", "disabled")
#: The package each tracker needs, and what installs it.
PACKAGES = {"mlflow": "mlflow", "wandb": "wandb", "tensorboard": "tensorboardX"}
INSTALL = "pip install 'xstilts[trackers]'"


class Trackers:
    """Every tracker of a running study. Each method passes the event on to each tracker in turn.

    The events, as the driver sees them: ``result`` (a trial reported an evaluation), ``retried`` (its
    attempt crashed and it continues from its last checkpoint: the same run, a new attempt),
    ``ended`` (completed, stopped early by ASHA, or errored for good), ``search_ended`` (its best trial
    chosen, or failed), ``close`` (the driver stops, the study ended or not)."""

    def __init__(self, members: list[Any], *, note: Callable[[str], None] = print) -> None:
        self.members = list(members)
        self.note = note

    def __bool__(self) -> bool:
        return bool(self.members)

    def _each(self, method: str, *args: Any, **kwargs: Any) -> None:
        for member in list(self.members):
            try:
                getattr(member, method)(*args, **kwargs)
            except Exception as exc:  # any tracker's error; the Parquet tables are the record
                self.members.remove(member)
                self.note(
                    f"{member.name}: tracking stopped after an error ({type(exc).__name__}: {exc}); the study "
                    "goes on and its results tables are complete"
                )
                if method != "close":
                    try:
                        member.close()
                    except Exception:  # already broken: its note was printed above
                        pass

    def result(self, trial: TrialInfo, *, step: int, result: dict[str, Any]) -> None:
        self._each("result", trial, step=step, result=result)

    def retried(self, trial: TrialInfo, *, error: str) -> None:
        self._each("retried", trial, error=error)

    def ended(self, trial: TrialInfo, *, status: str, error: str | None) -> None:
        self._each("ended", trial, status=status, error=error)

    def search_ended(self, search: Search, *, state: str, record: dict[str, Any]) -> None:
        self._each("search_ended", search, state=state, record=record)

    def close(self) -> None:
        self._each("close")


def open_trackers(sweep_dir: layout.SweepDir, config: SweepConfig, *, note: Callable[[str], None] = print) -> Trackers:
    """The trackers ``config.tracking`` names, and the Optuna journal every sweep keeps."""
    from sweep.track.optuna_journal import OptunaJournal

    tracking = config.tracking
    makers: dict[str, Callable[[], Any]] = {"optuna journal": lambda: OptunaJournal(sweep_dir, config)}
    if tracking.mlflow is not None:
        from sweep.track.mlflow_runs import MlflowTracker

        makers["mlflow"] = lambda: MlflowTracker(config, tracking.mlflow, note=note)
    if tracking.wandb is not None and tracking.wandb.mode != "disabled":
        from sweep.track.wandb_runs import WandbTracker

        makers["wandb"] = lambda: WandbTracker(sweep_dir, config, tracking.wandb)
    if tracking.tensorboard:
        from sweep.track.tensorboard_runs import TensorboardTracker

        makers["tensorboard"] = lambda: TensorboardTracker(sweep_dir)
    members = []
    for name, make in makers.items():
        try:
            members.append(make())
        except Exception as exc:  # an unreachable server, a bad credential: the study runs without it
            note(f"{name}: not tracking ({type(exc).__name__}: {exc}); the study goes on without it")
    return Trackers(members, note=note)


def tracking_problems(config: SweepConfig) -> list[str]:
    """What is wrong with ``config.tracking`` and ``config.notify``, before any compute: an unknown W&B
    mode, an MLflow URI of no known kind, a tracker whose package is not installed, a webhook that is no
    http(s) URL."""
    problems: list[str] = []
    tracking = config.tracking
    wanted = {
        "mlflow": tracking.mlflow is not None,
        "wandb": tracking.wandb is not None and tracking.wandb.mode != "disabled",
        "tensorboard": tracking.tensorboard,
    }
    for name, on in wanted.items():
        if on and importlib.util.find_spec(PACKAGES[name]) is None:
            problems.append(
                f"tracking.{name} needs the `{PACKAGES[name]}` package, which is not installed; run `{INSTALL}` "
                f"(or leave tracking.{name} out)"
            )
    if tracking.wandb is not None and tracking.wandb.mode not in WANDB_MODES:
        problems.append(f"tracking.wandb.mode is `{tracking.wandb.mode}`; use one of {', '.join(WANDB_MODES)}")
    uri = tracking.mlflow.tracking_uri if tracking.mlflow is not None else None
    if uri is not None:
        scheme = uri.split(":", 1)[0] if ":" in uri else ""
        known = ("http", "https", "file", "sqlite", "postgresql", "mysql", "mssql", "databricks")
        if scheme.split("+", 1)[0] not in known:
            problems.append(
                f"tracking.mlflow.tracking_uri `{uri}` is no MLflow store; write http(s)://HOST:PORT for a "
                "tracking server, sqlite:///PATH.db for a local database or file:PATH for a folder"
            )
    if config.notify.webhook is not None:
        from sweep.track.notify import url_problems

        problems += url_problems(config.notify.webhook)
    return problems
