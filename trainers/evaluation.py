"""Score a trial's model on its evaluation sets, and the search's objective from those scores.

Kept apart from ``trainers.reporting``, which decides when a trial evaluates and what each report
holds besides the scores (training loss, learning rate, the checkpoint): scoring needs only the model,
the data and the task's scorer, and knows nothing of DeepSpeed's state or checkpoints.

Score keys are ``split/language/metric`` (the results table's row coordinates); a mixture's scores
name their task first, ``task:split/language/metric``, since its sources' tasks share languages and
metrics (ANLI+'s SNLI, MNLI and ANLI all report ``dev/en/accuracy``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trainers import kinds
from trainers.scoring import score
from trainers.spec import TASK_MARK, SourceSpec, TrialSpec
from trainers.tasks import Task
from trainers.trial_data import Evals


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
    workers: tuple[int, int] = (0, 1),
) -> tuple[dict[str, float], dict[str, tuple[list, Any]]]:
    """Scores of every (task, split, language), and the test predictions per language.

    ``workers=(rank, world)``: each of the trial's workers runs 1/world of every set's batches, and every
    worker gets the whole predictions (``kinds.predict``); all of them must call this."""
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
            workers=workers,
            lockstep=spec.training.zero_stage == 3,
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
