"""Token tagging (UD-POS, PAN-X, CCG) the way XTREME feeds XLM-R: word pieces in, one tag per word out.

What XTREME does, and this module replicates (google-research/xtreme):

* ``utils_preprocess.py`` (``udpos_tokenize_preprocess`` / ``panx_tokenize_preprocess``, run by
  ``scripts/preprocess.sh`` with ``max_len`` 128) tokenizes every word on its own with
  ``tokenizer.tokenize(word)``. A word with **zero** sub-tokens, or with more sub-tokens than fit in one
  sequence, is replaced by ``tokenizer.unk_token`` (one sub-token; its gold tag is kept). A sentence
  whose sub-tokens exceed ``max_len - 3`` (3 specials for XLM-R, 2 otherwise) is **split** into
  consecutive chunks at word boundaries, greedily, each written as a separate example, with a ``.idx``
  file mapping chunks back to their sentence.
* ``third_party/utils_tag.py`` ``convert_examples_to_features`` gives each chunk the real label on the
  first sub-token of each word and -100 (``CrossEntropyLoss().ignore_index``) elsewhere, and for
  ``xlmr`` (``sep_token_extra``) builds ``<s> pieces </s> </s>``: two closing separators.
* ``third_party/run_tag.py`` ``save_predictions`` glues the chunks' predictions back into whole
  sentences; ``evaluate.py`` scores those. So **no word is ever truncated or left out**: every word of
  every sentence gets a prediction and is scored; its truncation to ``max_seq_length - 3`` never fires.

Here one example becomes one or more features (chunks) the same way, and ``decode`` reassembles one
prediction per word. (``run_tag.py``'s own dev score, used only to pick checkpoints, treats chunks as
sentences; the official score, and ``decode``, use whole sentences.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainers.examples import TagExample

IGNORE = -100  # CrossEntropyLoss's ignore_index, as run_tag.py's pad_token_label_id


@dataclass(frozen=True)
class TagFeatures:
    """Model inputs of a tagging split: one row per chunk of an example (usually one per example)."""

    input_ids: list[list[int]]
    labels: list[list[int]]  # tag on the FIRST sub-token of each word, -100 elsewhere (and on specials)
    word_index: list[list[int]]  # for each token, the index of its word in the example, or -1
    example_index: list[int]  # which example each row comes from

    def __len__(self) -> int:
        return len(self.input_ids)


def _word_pieces(words: list[str], tokenizer: Any) -> dict[str, list[int]]:
    """Sub-token ids of each distinct word, tokenized on its own as ``tokenizer.tokenize(word)`` is."""
    distinct = list(dict.fromkeys(words))
    if not distinct:
        return {}
    encoded = tokenizer(distinct, add_special_tokens=False)["input_ids"]
    return {word: list(ids) for word, ids in zip(distinct, encoded, strict=True)}


def _special_ids(tokenizer: Any) -> tuple[int, int, int]:
    ids = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.unk_token_id)
    if any(i is None for i in ids):
        raise ValueError(
            "the tokenizer must define cls, sep and unk tokens (XLM-R: <s>, </s>, <unk>); got ids "
            f"cls={ids[0]}, sep={ids[1]}, unk={ids[2]}"
        )
    return ids  # type: ignore[return-value]


def featurize(
    examples: Sequence[TagExample], *, tokenizer: Any, max_length: int, sep_token_extra: bool = True
) -> TagFeatures:
    """Tokenize word by word, split long sentences into chunks, and label first sub-tokens.

    ``sep_token_extra`` (XTREME's flag for ``xlmr``/``roberta``) ends each row with two separators and
    leaves ``max_length - 3`` sub-tokens per chunk; pass False for BERT-style ``[CLS] .. [SEP]``.
    An example tag of -1 (no gold label) becomes -100, so it adds nothing to a loss.

    Example: with "Hello" split into two pieces, ``featurize([TagExample("s1", ("Hello", "world"), (4, 7))],
    tokenizer=tok, max_length=128).labels == [[-100, 4, -100, 7, -100, -100]]``.
    """
    cls_id, sep_id, unk_id = _special_ids(tokenizer)
    closing = [sep_id, sep_id] if sep_token_extra else [sep_id]
    budget = max_length - 1 - len(closing)
    if budget < 1:
        raise ValueError(f"max_length {max_length} leaves no room for a word next to {1 + len(closing)} specials")
    for example in examples:
        if len(example.tags) != len(example.tokens):
            raise ValueError(
                f"example {example.id!r}: {len(example.tokens)} words but {len(example.tags)} tags; "
                "a tagging example needs one tag per word"
            )
        bad = [t for t in example.tags if t < -1]
        if bad:
            raise ValueError(f"example {example.id!r}: tag {bad[0]} is neither a class index nor -1 (no gold)")
    pieces = _word_pieces([w for ex in examples for w in ex.tokens], tokenizer)

    input_ids: list[list[int]] = []
    labels: list[list[int]] = []
    word_index: list[list[int]] = []
    example_index: list[int] = []

    def close(ids: list[int], labs: list[int], words: list[int], source: int) -> None:
        input_ids.append([cls_id, *ids, *closing])
        labels.append([IGNORE, *labs, *[IGNORE] * len(closing)])
        word_index.append([-1, *words, *[-1] * len(closing)])
        example_index.append(source)

    for source, example in enumerate(examples):
        ids: list[int] = []
        labs: list[int] = []
        words: list[int] = []
        for w, (word, tag) in enumerate(zip(example.tokens, example.tags, strict=True)):
            word_ids = pieces[word]
            # utils_preprocess.py: no pieces (e.g. a lone control character), or more than one row holds,
            # and the word becomes <unk>, so it still has a first sub-token to carry its tag.
            if not word_ids or len(word_ids) > budget:
                word_ids = [unk_id]
            if ids and len(ids) + len(word_ids) > budget:
                # Start a new chunk at this word, as utils_preprocess.py does, instead of truncating.
                close(ids, labs, words, source)
                ids, labs, words = [], [], []
            ids.extend(word_ids)
            labs.extend([tag if tag >= 0 else IGNORE] + [IGNORE] * (len(word_ids) - 1))
            words.extend([w] * len(word_ids))
        # An example with no words still yields one row (<s> </s> </s>), so example_index covers it.
        close(ids, labs, words, source)
    return TagFeatures(input_ids=input_ids, labels=labels, word_index=word_index, example_index=example_index)


def batches(features: TagFeatures, *, order: list[int], batch_size: int, pad_id: int) -> Iterator[dict[str, Any]]:
    """Yield padded ``input_ids``, ``attention_mask`` and ``labels`` (padded with -100) over ``order``.

    Example: ``next(batches(features, order=[1, 0], batch_size=2, pad_id=1))["labels"].shape == (2, width)``.
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        width = max(len(features.input_ids[i]) for i in index)
        ids = torch.full((len(index), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(index), width), dtype=torch.long)
        labels = torch.full((len(index), width), IGNORE, dtype=torch.long)
        for row, i in enumerate(index):
            n = len(features.input_ids[i])
            ids[row, :n] = torch.tensor(features.input_ids[i], dtype=torch.long)
            mask[row, :n] = 1
            labels[row, :n] = torch.tensor(features.labels[i], dtype=torch.long)
        yield {"input_ids": ids, "attention_mask": mask, "labels": labels}


def decode(
    examples: Sequence[TagExample], features: TagFeatures, logits: list[np.ndarray] | np.ndarray
) -> list[list[int]]:
    """One predicted tag index per word of each example: the argmax at the word's first sub-token.

    ``logits[i]`` is row ``i`` of ``features`` (feature order, not batch order), shaped
    ``[tokens, num_tags]``; padding beyond the row's length is ignored. Chunks of one example are
    joined back, so every word gets a prediction, as XTREME's ``save_predictions`` gives.

    Example: ``decode(examples, features, logits) == [[7, 1, 3], [11, 15]]`` for two examples.
    """
    if len(logits) != len(features):
        raise ValueError(f"expected logits for {len(features)} feature rows, got {len(logits)}")
    predictions: list[list[int | None]] = [[None] * len(ex.tokens) for ex in examples]
    for i, (words, source) in enumerate(zip(features.word_index, features.example_index, strict=True)):
        row = np.asarray(logits[i])
        if row.ndim != 2 or row.shape[0] < len(words):
            raise ValueError(f"logits[{i}]: expected shape [>= {len(words)} tokens, num_tags], got {tuple(row.shape)}")
        if source >= len(examples):
            raise ValueError(f"feature row {i} belongs to example {source}, but only {len(examples)} were given")
        best = row[: len(words)].argmax(axis=-1)
        target = predictions[source]
        for position, w in enumerate(words):
            if w < 0:
                continue
            if w >= len(target):
                raise ValueError(
                    f"feature row {i} points at word {w} of example {examples[source].id!r}, which has "
                    f"{len(target)} words; were the features built from these examples?"
                )
            if target[w] is None:  # first sub-token of the word
                target[w] = int(best[position])
    for example, target in zip(examples, predictions, strict=True):
        if any(p is None for p in target):
            missing = target.index(None)
            raise ValueError(
                f"example {example.id!r}: word {missing} ({example.tokens[missing]!r}) has no token in the "
                "features; were they built from these examples?"
            )
    return predictions  # type: ignore[return-value]
