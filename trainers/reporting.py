"""When a training trial evaluates, and what each evaluation reports: its scores (``trainers.evaluation``),
the objective, the training loss and rate since the last one, and a checkpoint to resume from.

Kept out of the training loop (``trainers.engine``), which only asks after each micro-batch whether an
evaluation is due and hands over what it trained since the last; the report's keys are the contract
with the sweep's recorder, which reads them back, so they are assembled in one place.
"""

from __future__ import annotations

import math
import platform
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from trainers import checkpoint
from trainers import predictions as predictions_lib
from trainers.evaluation import evaluate, objective, score_key
from trainers.spec import (
    CAPPED_SCORE,
    CAPPED_SPLIT,
    OBJECTIVE,
    SELECTION,
    TASK_MARK,
    SourceSpec,
    TrialSpec,
    eval_interval,
)
from trainers.tasks import Task
from trainers.trial_data import Evals


class Reporter(Protocol):
    """Receives one report per evaluation; the checkpoint folder may be deleted once it returns."""

    def report(self, metrics: dict[str, Any], *, checkpoint_dir: Path) -> None: ...


@dataclass(frozen=True)
class EvaluationPlan:
    """When a trial evaluates: every ``every`` optimizer steps and at its last one (``final_step``), or at
    each epoch's end where ``every`` is None; ``planned`` evaluations in all."""

    every: int | None
    final_step: int
    planned: int

    def due(self, *, stepped: bool, steps: int, epoch_end: bool, trial_end: bool) -> tuple[bool, bool]:
        """Whether to evaluate after a micro-batch, and whether that evaluation is the trial's final one.

        ``stepped``: the micro-batch completed an optimizer step, the ``steps``-th; ``epoch_end`` and
        ``trial_end``: it was the last of its epoch, of the trial.
        """
        if self.every is None:
            return epoch_end, trial_end
        # Each optimizer step evaluates at most once; the last one always does, and is the final one.
        final = (stepped and steps == self.final_step) or (self.final_step == 0 and trial_end)
        return final or (stepped and steps % self.every == 0), final


def plan_evaluations(
    eval_every: str | None, *, batches_per_epoch: int, accumulation: int, epochs: int
) -> EvaluationPlan:
    """The evaluations of a trial of ``epochs`` epochs of ``batches_per_epoch`` global micro-batches, with an
    optimizer step every ``accumulation`` of them, from ``training.eval_every``.

    >>> plan = plan_evaluations("5 steps", batches_per_epoch=16, accumulation=1, epochs=2)
    >>> plan.planned, plan.due(stepped=True, steps=30, epoch_end=False, trial_end=False)
    (7, (True, False))
    >>> plan.due(stepped=True, steps=32, epoch_end=True, trial_end=True)
    (True, True)
    """
    every = evaluation_interval(eval_every, steps_per_epoch=math.ceil(batches_per_epoch / accumulation))
    # DeepSpeed steps the optimizer every `accumulation` micro-batches, counting across epochs: the
    # trial's last step is `final_step` (micro-batches left after it are never applied).
    final_step = batches_per_epoch * epochs // accumulation
    if every is None:
        planned = epochs
    else:
        planned = final_step // every + (1 if final_step % every else 0) if final_step else 1
    return EvaluationPlan(every=every, final_step=final_step, planned=planned)


def evaluation_interval(eval_every: str | None, *, steps_per_epoch: int) -> int | None:
    """Optimizer steps between evaluations (None: at each epoch's end), from ``training.eval_every``.

    >>> evaluation_interval("0.25 epochs", steps_per_epoch=100), evaluation_interval("30 steps", steps_per_epoch=100)
    (25, 30)
    """
    if eval_every is None:
        return None
    unit, amount = eval_interval(eval_every)
    if unit == "steps":
        return int(amount)
    return max(1, round(amount * steps_per_epoch))


def evaluate_and_report(
    *,
    engine: Any,
    spec: TrialSpec,
    sources: Sequence[SourceSpec],
    tasks: Mapping[str, Task],
    heads: Mapping[str, str],
    reporter: Reporter,
    scheduler: Any,
    evals: Evals,
    capped: Evals,
    rank: int,
    batches_per_epoch: int,
    planned: int,
    pad_id: int,
    epoch: int,
    position: int,
    evaluations: int,
    final: bool,
    train: dict[str, Any],
    rates: Sequence[float] | None,
    sizes: Sequence[int],
) -> None:
    """Evaluate, checkpoint and report once: after ``position`` global micro-batches of ``epoch``."""
    import torch

    whole = final or capped is evals
    at_epoch_end = position == batches_per_epoch
    metrics: dict[str, Any] = {
        # Whole epochs as before where evaluations fall on epoch ends; else the fraction trained.
        "epoch": epoch if at_epoch_end else round(epoch - 1 + position / batches_per_epoch, 4),
        "optimizer_step": int(engine.global_steps),
        "evaluations": planned,  # how many this trial makes in all: the recorder's "completed"
        "lr": float(scheduler.get_last_lr()[0]),
        "node": platform.node(),
        "seed": spec.seed,  # the training seed: head init and data order
    }
    # Training rows name the language(s) trained on: "en", or "de+fr" for mixed training; the loss is the
    # mean over steps of the workers' mean, as one worker would see it. A mixture reports each source's
    # loss, its sampling rate and its size (examples, or QA windows) apart.
    for i, source in enumerate(sources):
        where = "+".join(source.languages)
        losses = train["losses"][i]
        if len(sources) == 1:
            metrics[f"train/{where}/loss"] = mean_over_workers(losses, device=engine.device)
            metrics[f"train/{where}/examples_per_s"] = train["examples"] / max(train["seconds"], 1e-9)
            continue
        loss = mean_over_workers(losses, device=engine.device)
        if loss == loss:  # a source not drawn since the last evaluation has no loss to report
            metrics[score_key(spec, source.task, "train", where, "loss")] = loss
        metrics[score_key(spec, source.task, "train", where, "sampling_rate")] = float(rates[i])  # type: ignore[index]
        metrics[score_key(spec, source.task, "train", where, "train_size")] = float(sizes[i])
    if len(sources) > 1:
        languages = "+".join(dict.fromkeys(lang for s in sources for lang in s.languages))
        metrics[f"train/{languages}/examples_per_s"] = train["examples"] / max(train["seconds"], 1e-9)
    scores, test_predictions = evaluate(
        spec,
        engine,
        tasks,
        heads,
        evals if whole else capped,
        batch_size=spec.training.eval_batch_size,
        pad_id=pad_id,
        workers=(rank, torch.distributed.get_world_size()),
    )
    if not whole:  # dev on its first examples: rows of their own split, never selected
        scores = {
            key.replace(f"{TASK_MARK}dev/", f"{TASK_MARK}{CAPPED_SPLIT}/", 1)
            if TASK_MARK in key
            else key.replace("dev/", f"{CAPPED_SPLIT}/", 1): value
            for key, value in scores.items()
        }
    metrics.update(scores)
    metrics[OBJECTIVE] = objective(metrics, spec, sources, tasks, split="dev" if whole else CAPPED_SPLIT)
    metrics[SELECTION] = metrics[OBJECTIVE] if whole else CAPPED_SCORE
    checkpoint_dir = Path(tempfile.mkdtemp(prefix="xstilts-ckpt-"))
    try:
        if rank == 0:
            # Kept with the checkpoint, so the best step's test predictions can be exported later.
            for language, (examples, predictions) in test_predictions.items():
                predictions_lib.write(
                    checkpoint_dir / checkpoint.PREDICTIONS_DIR, tasks[spec.task], language, examples, predictions
                )
        # Every worker writes its own part; the reporter gathers the workers' folders into one checkpoint.
        checkpoint.save(
            engine,
            checkpoint_dir,
            rank=rank,
            state={
                "epoch": epoch,
                "position": position,
                "evaluations": evaluations,
                # DeepSpeed does not save where gradient accumulation stands; a resumed run needs it to
                # step on the same micro-batches. (The gradient accumulated so far is not saved: a resume
                # from between two steps, an epoch end that is not one, loses that one step's part.)
                "micro_steps": int(engine.micro_steps),
                "task": spec.task,
                "zero_stage": spec.training.zero_stage,
                "precision": spec.training.precision,
                "workers": torch.distributed.get_world_size(),
            },
        )
        reporter.report(metrics, checkpoint_dir=checkpoint_dir)
    finally:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)


def mean_over_workers(losses: list[float], *, device: Any) -> float:
    """The mean of ``losses`` over this worker's steps, averaged over the workers (the same steps each)."""
    import torch
    import torch.distributed as dist

    # On the engine's device: an NCCL group (GPU workers) reduces CUDA tensors only.
    total = torch.tensor([sum(losses), len(losses)], dtype=torch.float64, device=device)
    if dist.get_world_size() > 1:
        dist.all_reduce(total)
    return float(total[0] / total[1]) if total[1] else float("nan")
