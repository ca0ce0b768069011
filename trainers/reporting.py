"""One evaluation of a training trial: score every split, compute the objective, checkpoint and report.

Score keys are ``split/language/metric`` (the results table's row coordinates); a mixture's scores
name their task first, ``task:split/language/metric``, since its sources' tasks share languages and
metrics (ANLI+'s SNLI, MNLI and ANLI all report ``dev/en/accuracy``).
"""

from __future__ import annotations

import platform
import random
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from trainers import kinds
from trainers import predictions as predictions_lib
from trainers.checkpoint import PREDICTIONS_DIR, TAG, rng_file, write_state
from trainers.scoring import score
from trainers.spec import CAPPED_SCORE, CAPPED_SPLIT, OBJECTIVE, SELECTION, TASK_MARK, SourceSpec, TrialSpec
from trainers.tasks import Task
from trainers.trial_data import Evals


class Reporter(Protocol):
    """Receives one report per evaluation; the checkpoint folder may be deleted once it returns."""

    def report(self, metrics: dict[str, Any], *, checkpoint_dir: Path) -> None: ...


def score_key(spec: TrialSpec, task: str, role: str, language: str, metric: str) -> str:
    """The report key of one score: ``dev/en/accuracy``, or ``mnli:dev/en/accuracy`` in a mixture."""
    key = f"{role}/{language}/{metric}"
    return f"{task}{TASK_MARK}{key}" if spec.scores_by_task else key


def evaluate(
    spec: TrialSpec,
    engine: Any,
    tasks: Mapping[str, Task],
    heads: Mapping[str, str],
    evals: Evals,
    *,
    batch_size: int,
    pad_id: int,
) -> tuple[dict[str, float], dict[str, tuple[list, Any]]]:
    """Scores of every (task, split, language), and the test predictions per language."""
    engine.eval()
    head_of = {task: head for head, task in heads.items()}
    scores, test_predictions = {}, {}
    for (task_name, role, language), (examples, features) in evals.items():
        task = tasks[task_name]
        model = engine
        if len(heads) > 1:
            head = head_of.get(task_name) or _shared_head(spec, task_name)

            def model(_head: str = head, **inputs: Any) -> Any:
                return engine(head=_head, **inputs)

        predictions = kinds.predict(
            task.kind,
            model,
            examples,
            features,
            batch_size=batch_size,
            pad_id=pad_id,
            device=engine.device,
            allow_impossible=task.scorer == "squad_v2",
        )
        for name, value in score(task, examples, predictions, language=language).items():
            scores[score_key(spec, task_name, role, language, name)] = value
        if role == "test":
            test_predictions[language] = (examples, predictions)
    return scores, test_predictions


def _shared_head(spec: TrialSpec, task: str) -> str:
    assert spec.mixture is not None
    return next(s.head for s in spec.mixture.sources if s.task == task)


def objective(
    metrics: Mapping[str, Any],
    spec: TrialSpec,
    sources: Sequence[SourceSpec],
    tasks: Mapping[str, Task],
    *,
    split: str = "dev",
) -> float:
    """The search's objective from one evaluation's scores.

    One task: the mean over its training languages' dev sets (``english_dev``) or over the evaluation
    languages that have one (``mean_dev``). A mixture: each source's mean over the dev sets of the
    languages it trains in, then the mean over sources (``select: mean``), or the named task's sources.
    """
    if spec.mixture is None:
        metric = tasks[spec.task].metric
        if spec.select_on == "english_dev":  # the dev sets of the training languages (English unless told)
            return sum(float(metrics[f"{split}/{lang}/{metric}"]) for lang in spec.train_languages) / len(
                spec.train_languages
            )
        values = [float(metrics[key]) for lang in spec.eval_languages if (key := f"{split}/{lang}/{metric}") in metrics]
        return sum(values) / len(values)
    chosen = [s for s in sources if spec.mixture.select in ("mean", s.task)]
    per_source = []
    for source in chosen:
        metric = tasks[source.task].metric
        keys = [score_key(spec, source.task, split, lang, metric) for lang in source.languages]
        per_source.append(sum(float(metrics[k]) for k in keys) / len(keys))
    return sum(per_source) / len(per_source)


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
    import numpy as np
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
        # Every worker writes its own shards (DeepSpeed needs all of them to call this); the reporter
        # gathers the workers' folders into one checkpoint.
        engine.save_checkpoint(str(checkpoint_dir), tag=TAG)
        if rank == 0:
            # Kept with the checkpoint, so the best step's test predictions can be exported later.
            for language, (examples, predictions) in test_predictions.items():
                predictions_lib.write(
                    checkpoint_dir / PREDICTIONS_DIR, tasks[spec.task], language, examples, predictions
                )
            write_state(
                checkpoint_dir,
                epoch=epoch,
                position=position,
                evaluations=evaluations,
                # DeepSpeed does not save where gradient accumulation stands; a resumed run needs it to
                # step on the same micro-batches. (The gradient accumulated so far is not saved: a resume
                # from between two steps, an epoch end that is not one, loses that one step's part.)
                micro_steps=int(engine.micro_steps),
                task=spec.task,
                zero_stage=spec.training.zero_stage,
                precision=spec.training.precision,
                workers=torch.distributed.get_world_size(),
            )
        # Dropout draws from these: restoring them makes a resumed epoch identical to an uninterrupted one.
        torch.save(
            {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
            checkpoint_dir / rng_file(rank),
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
