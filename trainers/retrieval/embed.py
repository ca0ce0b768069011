"""Retrieval targets (Tatoeba, BUCC 2018, LAReQA, Mewsli-X): no training; sentence embeddings from
one encoder layer, pooled, then each task's own retrieval and scorer (``trainers.retrieval.evaluators``).
X-STILTs evaluates these straight after intermediate training (phase one), on the exported
intermediate encoder.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainers import predictions
from trainers.checkpoint import PREDICTIONS_DIR, write_state
from trainers.errors import TaskError
from trainers.model import build_model, load_encoder, load_tokenizer
from trainers.retrieval.evaluators import EVALUATORS
from trainers.spec import CAPPED_SCORE, LAYER_MARK, OBJECTIVE, POOLINGS, SELECTION, ModelSpec
from trainers.tasks import get_task


def default_layer(num_layers: int) -> int:
    """The middle layer: intermediate layers of multilingual encoders align languages best."""
    return max(1, num_layers // 2)


def sentence_embeddings(
    model: Any, tokenizer: Any, sentences: Sequence[str], *, layer: int, pooling: str, batch_size: int, max_length: int
) -> np.ndarray:
    """One vector per sentence: hidden states of ``layer`` (0 = embeddings), mean-pooled over real
    tokens, or taken at the first token (``cls``) or the last real one (``last``, on either padding
    side), computed on the model's device."""
    import torch

    if pooling not in POOLINGS:
        raise TaskError(f"pooling {pooling!r} is not one of {', '.join(POOLINGS)}")
    out = []
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, len(sentences), batch_size):
            batch = tokenizer(
                list(sentences[start : start + batch_size]),
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            ).to(device)
            states = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True
            ).hidden_states
            if not 0 <= layer < len(states):
                raise TaskError(f"retrieval layer {layer} does not exist; the encoder has layers 0-{len(states) - 1}")
            hidden = states[layer].float()
            if pooling == "cls":
                out.append(hidden[:, 0].cpu().numpy())
            elif pooling == "last":
                mask = batch["attention_mask"]
                last = mask.shape[1] - 1 - mask.flip(1).argmax(1)  # the last 1 of each row's mask
                out.append(hidden[torch.arange(hidden.shape[0], device=hidden.device), last].cpu().numpy())
            else:
                mask = batch["attention_mask"].unsqueeze(-1).float()
                out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 1), dtype=np.float32)


def evaluate_retrieval(
    task_name: str,
    *,
    model_spec: ModelSpec,
    init_encoder: str | None,
    languages: Sequence[str],
    data_dir: str | None,
    layer: int | None,
    pooling: str,
    batch_size: int,
    torch_threads: int = 1,
    layers: str | Sequence[int] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Score a retrieval task in every language with the (intermediate) encoder. Returns Tune-style metrics
    (``test/<language>/<metric>`` for every metric of the task's scorer, and the objective) and each
    language's predictions (what ``trainers.predictions.write`` puts in the submission file).

    Runs on the GPU where the process was given one. Example:
    ``metrics, _ = evaluate_retrieval("bucc2018", model_spec=spec, init_encoder=None, languages=["de"], ...)``.
    """
    import torch

    torch.set_num_threads(torch_threads)
    started = time.perf_counter()
    task = get_task(task_name)
    if task.name not in EVALUATORS:
        raise TaskError(f"retrieval task `{task.name}` has no evaluator; these do: {', '.join(EVALUATORS)}")
    tokenizer = load_tokenizer(model_spec)
    model = build_model(
        model_spec, num_labels=2, vocab_size=len(tokenizer), dropout=0.0, pad_token_id=tokenizer.pad_token_id
    )
    if init_encoder:
        load_encoder(model, init_encoder)
    encoder = model.base_model.to("cuda" if torch.cuda.is_available() else "cpu")
    chosen = default_layer(encoder.config.num_hidden_layers) if layer is None else layer
    metrics: dict[str, Any] = {"node": platform.node(), "layer": chosen}

    def run(at: int) -> Any:
        def embed(texts: Sequence[str]) -> np.ndarray:
            return sentence_embeddings(
                encoder,
                tokenizer,
                texts,
                layer=at,
                pooling=pooling,
                batch_size=batch_size,
                max_length=model_spec.max_length,
            )

        return EVALUATORS[task.name].run(
            task, embed=embed, languages=languages, data_dir=Path(data_dir) if data_dir else None
        )

    results = run(chosen)
    headline = []
    for language in languages:
        for name, value in results[language].scores.items():
            metrics[f"test/{language}/{name}"] = value
        headline.append(results[language].scores[task.metric])
    # Alignment across depth: every other layer asked for, scored the same way (``7#test/de/accuracy``).
    # Each layer is a pass over the data of its own: memory stays that of one layer's embeddings.
    wanted = range(encoder.config.num_hidden_layers + 1) if layers == "all" else (layers or ())
    for other in (at for at in wanted if at != chosen):
        for language, evaluated in run(other).items():
            for name, value in evaluated.scores.items():
                metrics[f"{other}{LAYER_MARK}test/{language}/{name}"] = value
    # Nothing is selected for retrieval (one evaluation per encoder); the objective is the test mean.
    metrics[OBJECTIVE] = sum(headline) / len(headline)
    metrics["seconds"] = time.perf_counter() - started
    metrics["pid"] = os.getpid()
    return metrics, {language: results[language].predictions for language in languages}


def evaluate_and_report(task_name: str, *, reporter: Any, **options: Any) -> None:
    """Run ``evaluate_retrieval`` and hand its metrics to ``reporter`` (``trainers.reporting.Reporter``) with a
    checkpoint folder that holds the predictions, as a trained trial's does: a retrieval evaluation is
    a one-step trial of its search. ``options`` are ``evaluate_retrieval``'s."""
    metrics, predicted = evaluate_retrieval(task_name, **options)
    task = get_task(task_name)
    folder = Path(tempfile.mkdtemp(prefix="xstilts-eval-"))
    try:
        write_state(folder, epoch=1, task=task.name)
        for language, values in predicted.items():
            predictions.write(folder / PREDICTIONS_DIR, task, language, [], values)
        reporter.report({**metrics, SELECTION: metrics.get(OBJECTIVE, CAPPED_SCORE)}, checkpoint_dir=folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
