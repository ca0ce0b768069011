"""Paired bootstrap over test examples: how sure is a pair's gain over its baseline when each was run once?

For each language, the test examples are resampled with replacement, the *same* resample for the pair and
for the baseline, and both are scored on it; a replicate's gain is the mean over languages of the
differences, and the interval is the percentile interval of the replicates' gains (Koehn 2004; Berg-Kirkpatrick
et al. 2012). Resampling the same examples for both keeps what the two systems share (which examples are
hard) out of the spread.

Each trial keeps its test predictions at every checkpoint Tune keeps (``predictions/test-<lang>.*``), and the
best step's checkpoint is always kept; they are scored against the gold data the sweep read. Metrics are
reduced to per-example parts so that a replicate is a weighted sum: a mean over examples (accuracy, QA
(EM + F1) / 2, mAP@20, Tatoeba accuracy), a ratio of sums (token accuracy), or span F1 from per-sentence
true positives and span counts (seqeval, as XTREME scores PAN-X and UD-POS). BUCC's F1 over mined pairs has
no per-example parts and gets no interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sweep.console import progress
from sweep.errors import XStiltsError

REPLICATES = 1000


@dataclass(frozen=True)
class Parts:
    """A metric as per-example parts: ``mean`` (values), ``ratio`` (numerators, denominators) or ``f1``
    (true positives, predicted spans, gold spans)."""

    kind: str
    arrays: tuple[np.ndarray, ...]

    def metric(self, index: np.ndarray | None = None) -> np.ndarray | float:
        """The metric over all examples, or over each row of resampled indices (shape replicates x n)."""
        picked = [a if index is None else a[index] for a in self.arrays]
        axis = -1
        if self.kind == "mean":
            return picked[0].mean(axis=axis)
        if self.kind == "ratio":
            num, den = (p.sum(axis=axis) for p in picked)
            return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)
        tp, predicted, gold = (p.sum(axis=axis) for p in picked)
        total = predicted + gold
        return np.divide(2 * tp, total, out=np.zeros_like(total, dtype=float), where=(total > 0) & (tp > 0))

    @property
    def size(self) -> int:
        return len(self.arrays[0])


def example_parts(task: Any, gold: Sequence[Any], predicted: Any, *, language: str) -> Parts:
    """``task``'s headline metric on ``predicted`` as per-example parts (see the module doc)."""
    from trainers.scoring import score
    from trainers.scoring.tagging import seqeval_entities

    if task.kind in ("classification", "multiple_choice"):
        return Parts("mean", (np.array([p == e.label for p, e in zip(predicted, gold, strict=True)], dtype=float),))
    if task.kind == "tagging":
        names = task.labels
        if task.scorer == "seqeval":
            tp, n_pred, n_gold = [], [], []
            for sentence, example in zip(predicted, gold, strict=True):
                pred = set(seqeval_entities([[t if isinstance(t, str) else names[t] for t in sentence]]))
                true = set(seqeval_entities([[names[t] for t in example.tags]]))
                tp.append(len(pred & true))
                n_pred.append(len(pred))
                n_gold.append(len(true))
            return Parts("f1", tuple(np.array(a, dtype=float) for a in (tp, n_pred, n_gold)))
        correct = [
            sum((t if isinstance(t, str) else names[t]) == names[g] for t, g in zip(s, e.tags, strict=True))
            for s, e in zip(predicted, gold, strict=True)
        ]
        return Parts("ratio", (np.array(correct, dtype=float), np.array([len(e.tags) for e in gold], dtype=float)))
    if task.scorer == "bucc":
        raise XStiltsError(f"{task.name}: F1 over mined pairs has no per-example parts to resample")
    if task.scorer == "tatoeba":
        return Parts("mean", (np.array([p == i for i, p in enumerate(predicted)], dtype=float),))
    # QA and ranked retrieval: the headline is a mean over questions or queries, each scored alone.
    values = []
    for example in gold:
        one = {example.id: predicted.get(example.id)} if isinstance(predicted, dict) else predicted
        values.append(score(task, [example], one, language=language)[task.metric])
    return Parts("mean", (np.array(values, dtype=float),))


def paired_interval(
    languages: Sequence[tuple[Parts, Parts]],
    *,
    replicates: int = REPLICATES,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, float]:
    """The gain (mean over languages of pair minus baseline) and its percentile interval from ``replicates``
    resamples of each language's examples, the same for both systems. Example::

        paired_interval([(pair_de, base_de), (pair_sw, base_sw)])  # {"gain": ..., "low": ..., "high": ...}
    """
    rng = np.random.default_rng(seed)
    gains = np.zeros(replicates)
    observed = 0.0
    for pair, base in languages:
        if pair.size != base.size:
            raise XStiltsError(f"the pair scored {pair.size} examples and its baseline {base.size}: not paired")
        index = rng.integers(0, pair.size, size=(replicates, pair.size))
        gains += np.asarray(pair.metric(index)) - np.asarray(base.metric(index))
        observed += float(pair.metric()) - float(base.metric())
    gains /= len(languages)
    tail = (1 - confidence) / 2
    low, high = np.quantile(gains, [tail, 1 - tail])
    return {"gain": observed / len(languages), "low": float(low), "high": float(high), "replicates": replicates}


def _eval_limit(config: dict[str, Any], model: str | None) -> int | None:
    """``training.max_eval_examples`` as the model's trials had it (a model of a list may override it)."""
    limit = (config.get("training") or {}).get("max_eval_examples")
    models = config.get("model")
    for entry in models if isinstance(models, list) else []:
        if (entry or {}).get("name") == model and "max_eval_examples" in (entry.get("training") or {}):
            limit = entry["training"]["max_eval_examples"]
    return limit


class PredictionReader:
    """Per-example parts of a selected run's test predictions, read from its checkpoint and scored against the
    gold data its sweep read (cached per task and language)."""

    def __init__(self) -> None:
        self._gold: dict[tuple[str, str, str], list[Any]] = {}

    def parts(
        self, sweep: Any, *, search: str, trial_id: str, step: int, target: str, language: str, model: str | None
    ) -> Parts:
        """The parts of one language's predictions of ``trial_id`` at ``step``."""
        from trainers.checkpoint import PREDICTIONS_DIR
        from trainers.data import load_examples
        from trainers.predictions import file_name, read
        from trainers.tasks import get_task

        task = get_task(target)
        data_dir = sweep.config.get("data_dir")
        # A trained trial scores the first max_eval_examples, if capped; a retrieval evaluation the whole split.
        limit = None if task.kind == "retrieval" else _eval_limit(sweep.config, model)
        key = (str(data_dir), target, language, limit)
        if key not in self._gold:
            self._gold[key] = load_examples(
                task, language=language, role="test", data_dir=Path(data_dir) if data_dir else None, limit=limit
            )
        gold = self._gold[key]
        folder = sweep.folder.checkpoint(search=search, trial_id=trial_id, step=step) / PREDICTIONS_DIR
        path = folder / file_name(task, language)
        return example_parts(task, gold, read(task, path, gold, language=language), language=language)


def pair_intervals(
    results: Any, scores: Any, *, replicates: int = REPLICATES, seed: int = 0
) -> dict[tuple, dict[str, Any]]:
    """For each pair run once whose baseline was run once: its gain and the paired bootstrap interval, keyed
    by (sweep, model, intermediate, target, regime); ``scores`` is ``sweep.analysis.analyses.scores``'s table. A pair
    that cannot be resampled gets ``{"error": why}``."""
    from collections import defaultdict

    from sweep.analysis.catalog import BASELINE

    runs: dict[tuple, dict[str, dict[str, Any]]] = defaultdict(dict)
    seeded: dict[tuple, bool] = defaultdict(bool)  # represented by seed runs: their t-intervals apply
    for row in scores.to_pylist():
        key = (row["sweep"], row["model"], row["intermediate"], row["target"], row["regime"])
        runs[key][row["language"]] = row
        seeded[key] |= bool(row["seeds_run"])
    sweeps = {s.name: s for s in results.sweeps}
    reader = PredictionReader()
    out: dict[tuple, dict[str, Any]] = {}
    for key, languages in progress(runs.items(), description="paired bootstrap over test examples"):
        sweep, model, intermediate, target, regime = key
        base_key = (sweep, model, BASELINE, target, regime)
        if intermediate == BASELINE or base_key not in runs or seeded[key] or seeded[base_key]:
            continue
        common = sorted(set(languages) & set(runs[base_key]))
        if not common:
            out[key] = {"error": "the pair and its baseline were scored on no common language"}
            continue
        try:
            paired = []
            for language in common:
                sides = []
                for row in (languages[language], runs[base_key][language]):
                    parts = reader.parts(
                        sweeps[sweep],
                        search=row["search"],
                        trial_id=row["trial_id"],
                        step=row["step"],
                        target=target,
                        language=language,
                        model=model,
                    )
                    if abs(float(parts.metric()) - row["value"]) > 1e-6:
                        raise XStiltsError(
                            f"the kept predictions of {row['search']} ({language}) score {float(parts.metric()):.6f} "
                            f"but the table holds {row['value']:.6f}"
                        )
                    sides.append(parts)
                paired.append((sides[0], sides[1]))
            out[key] = {
                **paired_interval(paired, replicates=replicates, seed=seed),
                "examples": sum(p.size for p, _ in paired),
            }
        except (XStiltsError, OSError, ValueError) as exc:
            out[key] = {"error": str(exc).splitlines()[0]}
    return out
