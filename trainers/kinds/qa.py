"""Extractive QA: span examples to sliding-window features, and start/end logits back to answer text.

Follows Hugging Face's ``run_qa.py`` (the fast-tokenizer successor of the ``run_squad.py`` XTREME
uses for XLM-R): question first, context second, long contexts cut into overlapping windows, targets
and predictions located through the tokenizer's character offsets, so a predicted answer is a verbatim
substring of the original context rather than re-detokenized text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainers.errors import DataError
from trainers.examples import SpanExample

CLS_INDEX = 0  # XLM-R's <s> opens every window; it is the "no answer here" target and null score


class GoldSpanError(DataError, ValueError):
    """A gold answer's ``start`` offset does not point at its text in the context."""


@dataclass(frozen=True)
class QAFeatures:
    """Tokenized windows of a QA split, several per example when the context is long.

    ``offsets[w][t]`` is the ``(start, end)`` character span of token ``t`` of window ``w`` in its
    example's context (leading/trailing whitespace trimmed), or ``None`` for question and special
    tokens. Targets are token indices in the window; ``CLS_INDEX`` when the window holds no answer.
    """

    input_ids: list[list[int]]
    example_index: list[int]  # which example each window came from
    offsets: list[list[tuple[int, int] | None]]
    start_positions: list[int]
    end_positions: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _truncate_questions(questions: list[str], *, tokenizer: Any, max_query_length: int) -> list[str]:
    """Cut each question after its first ``max_query_length`` tokens, as run_squad truncates the query.

    Cutting the text at a token's end offset (not re-detokenizing ids) keeps the question's own
    characters; a cut inside a word can re-tokenize longer, so step back until it fits.
    """
    encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    result = []
    for question, ids, offsets in zip(questions, encoded["input_ids"], encoded["offset_mapping"], strict=True):
        keep = max_query_length
        while len(ids) > max_query_length and keep > 0:
            question = question[: offsets[keep - 1][1]]
            ids = tokenizer(question, add_special_tokens=False)["input_ids"]
            keep -= 1
        result.append(question)
    return result


def _trim(context: str, start: int, end: int) -> tuple[int, int]:
    # SentencePiece tokens carry the preceding space ("▁word" maps to " word"); trim it so predicted
    # answers come back exactly as the gold text, without stray whitespace.
    while start < end and context[start].isspace():
        start += 1
    while end > start and context[end - 1].isspace():
        end -= 1
    return start, end


def _checked_answer(example: SpanExample) -> tuple[int, int]:
    """The first answer's character span, after checking that it really is where ``start`` says."""
    answer = example.answers[0]
    end = answer.start + len(answer.text)
    if not answer.text or answer.start < 0 or example.context[answer.start : end] != answer.text:
        found = example.context[max(answer.start, 0) : max(end, 0)]
        raise GoldSpanError(
            f"example {example.id!r}: gold answer {answer.text!r} at start={answer.start} does not match "
            f"the context there ({found!r}); fix the answer_start (training on it would learn a wrong span)"
        )
    start, end = _trim(example.context, answer.start, end)
    if start == end:
        raise GoldSpanError(f"example {example.id!r}: gold answer {answer.text!r} is only whitespace")
    # Trimmed like the token offsets, so a gold " Denver" still targets the "Denver" tokens.
    return start, end


def _target(offsets: list[tuple[int, int] | None], char_start: int, char_end: int) -> tuple[int, int]:
    """Token start/end of a character span inside one window; ``(CLS, CLS)`` when not fully inside."""
    context_tokens = [t for t, span in enumerate(offsets) if span is not None]
    if not context_tokens:
        return CLS_INDEX, CLS_INDEX
    first, last = context_tokens[0], context_tokens[-1]
    if not (offsets[first][0] <= char_start and offsets[last][1] >= char_end):  # type: ignore[index]
        return CLS_INDEX, CLS_INDEX
    # The start token is the last one beginning at or before the answer, the end token the first one
    # ending at or after it (run_qa's scan), so an answer inside a token still gets that token.
    start = next(t for t in reversed(context_tokens) if offsets[t][0] <= char_start)  # type: ignore[index]
    end = next(t for t in context_tokens if offsets[t][1] >= char_end)  # type: ignore[index]
    return start, max(start, end)


def featurize(
    examples: Sequence[SpanExample],
    *,
    tokenizer: Any,
    max_length: int = 384,
    doc_stride: int = 128,
    max_query_length: int = 64,
    train: bool,
) -> QAFeatures:
    """Tokenize QA examples into windows of at most ``max_length`` tokens, with training targets.

    ``doc_stride`` is the number of context tokens consecutive windows share (the fast tokenizer's
    ``stride``, as run_qa passes it). With ``train`` the first gold answer gives the targets and is
    checked against the context (:class:`GoldSpanError` names the example when it does not match);
    without it every target is ``CLS_INDEX`` and gold offsets are not read.

    Example (needs a tokenizer, so not a doctest): ``featurize(examples, tokenizer=tok, train=True)``
    gives ``example_index == [0, 0, 1]`` when the first context needs two windows.
    """
    _positive("max_length", max_length)
    _positive("doc_stride", doc_stride)
    _positive("max_query_length", max_query_length)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("featurize needs a fast tokenizer (it reads character offset mappings)")
    features = QAFeatures([], [], [], [], [])
    if not examples:
        return features
    # run_qa strips leading whitespace: it only costs question tokens and breaks the truncation check.
    questions = _truncate_questions(
        [e.question.lstrip() for e in examples], tokenizer=tokenizer, max_query_length=max_query_length
    )
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    question_lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    for example, length in zip(examples, question_lengths, strict=True):
        room = max_length - length - specials
        if room <= doc_stride:
            # The Rust tokenizer panics (PanicException, not even an Exception) when the overlap
            # leaves no new context per window; say which example and which knob instead.
            raise ValueError(
                f"example {example.id!r}: max_length={max_length} leaves {room} context tokens after the "
                f"{length}-token question and {specials} special tokens, not more than doc_stride={doc_stride}; "
                "raise max_length or lower doc_stride / max_query_length"
            )
    spans = [_checked_answer(e) if train and e.answers else None for e in examples]
    encoded = tokenizer(
        questions,
        [e.context for e in examples],
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    for window, ids in enumerate(encoded["input_ids"]):
        index = encoded["overflow_to_sample_mapping"][window]
        context = examples[index].context
        sequence_ids = encoded.sequence_ids(window)
        offsets: list[tuple[int, int] | None] = [
            _trim(context, int(span[0]), int(span[1])) if sequence_ids[t] == 1 else None
            for t, span in enumerate(encoded["offset_mapping"][window])
        ]
        span = spans[index]
        start, end = _target(offsets, *span) if span is not None else (CLS_INDEX, CLS_INDEX)
        features.input_ids.append(list(ids))
        features.example_index.append(index)
        features.offsets.append(offsets)
        features.start_positions.append(start)
        features.end_positions.append(end)
    return features


def batches(features: QAFeatures, *, order: list[int], batch_size: int, pad_id: int) -> Iterator[dict[str, Any]]:
    """Yield padded tensors for the windows in ``order``, ``batch_size`` at a time.

    Each batch has ``input_ids``, ``attention_mask``, ``start_positions`` and ``end_positions``
    (long tensors); the trainer decides whether to pass the targets to the model.

    Example: ``next(batches(features, order=[0, 1], batch_size=2, pad_id=1))["input_ids"].shape``
    is ``(2, longest of windows 0 and 1)``.
    """
    import torch

    _positive("batch_size", batch_size)
    for first in range(0, len(order), batch_size):
        index = order[first : first + batch_size]
        width = max(len(features.input_ids[i]) for i in index)
        ids = torch.full((len(index), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(index), width), dtype=torch.long)
        for row, i in enumerate(index):
            seq = features.input_ids[i]
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        yield {
            "input_ids": ids,
            "attention_mask": mask,
            "start_positions": torch.tensor([features.start_positions[i] for i in index], dtype=torch.long),
            "end_positions": torch.tensor([features.end_positions[i] for i in index], dtype=torch.long),
        }


def _check_logits(features: QAFeatures, start_logits: np.ndarray, end_logits: np.ndarray) -> None:
    start_shape, end_shape = np.shape(start_logits), np.shape(end_logits)
    widest = max((len(ids) for ids in features.input_ids), default=0)
    if start_shape != end_shape or len(start_shape) != 2:
        raise ValueError(
            f"start and end logits must be 2-D arrays of the same shape (windows, tokens), "
            f"got {start_shape} and {end_shape}"
        )
    if start_shape[0] != len(features) or start_shape[1] < widest:
        raise ValueError(
            f"logits of shape {start_shape} do not match the features: expected {len(features)} windows "
            f"and at least {widest} token positions (the longest window)"
        )


def decode(
    examples: Sequence[SpanExample],
    features: QAFeatures,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    *,
    n_best: int = 20,
    max_answer_length: int = 30,
    allow_impossible: bool = False,
    null_threshold: float = 0.0,
) -> dict[str, str]:
    """Pick each example's answer: the best-scoring valid span over all its windows.

    Per window, the ``n_best`` highest start and end logits are paired; a span counts when both ends
    are context tokens, end >= start and it is at most ``max_answer_length`` tokens, and scores
    start + end logit. The answer is the context's own characters under the span. With
    ``allow_impossible`` (SQuAD v2), the null score is the lowest CLS start + end over the example's
    windows (as run_squad), and "" wins when it beats the best span by more than ``null_threshold``.
    An example with no valid span at all also gets "".

    Example: ``decode(examples, features, start_logits, end_logits)`` gives
    ``{"56be4db0acb8001400a502ec": "Denver Broncos", ...}``.
    """
    _positive("n_best", n_best)
    _positive("max_answer_length", max_answer_length)
    _check_logits(features, start_logits, end_logits)
    windows: list[list[int]] = [[] for _ in examples]
    for window, index in enumerate(features.example_index):
        if not 0 <= index < len(examples):
            raise ValueError(f"features refer to example {index}, but only {len(examples)} examples were given")
        windows[index].append(window)
    predictions: dict[str, str] = {}
    for index, example in enumerate(examples):
        if not windows[index]:
            raise ValueError(f"example {example.id!r} has no windows in the features; featurize these examples")
        best_score, best_text = -np.inf, ""
        null_score = np.inf
        for window in windows[index]:
            offsets = features.offsets[window]
            # Only the window's own positions: logits past its end are padding and must not compete.
            starts = np.asarray(start_logits[window][: len(offsets)], dtype=np.float64)
            ends = np.asarray(end_logits[window][: len(offsets)], dtype=np.float64)
            null_score = min(null_score, starts[CLS_INDEX] + ends[CLS_INDEX])
            top_starts = np.argsort(-starts, kind="stable")[:n_best]
            top_ends = np.argsort(-ends, kind="stable")[:n_best]
            for s in top_starts:
                start_span = offsets[s]
                if start_span is None:
                    continue
                for e in top_ends:
                    end_span = offsets[e]
                    if end_span is None or e < s or e - s + 1 > max_answer_length:
                        continue
                    if end_span[1] <= start_span[0]:
                        continue  # only whitespace-only (trimmed to zero width) tokens: no text
                    score = starts[s] + ends[e]
                    if score > best_score:
                        best_score, best_text = score, example.context[start_span[0] : end_span[1]]
        if allow_impossible and null_score - best_score > null_threshold:
            best_text = ""
        predictions[example.id] = best_text
    return predictions
