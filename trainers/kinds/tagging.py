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
  ``xlmr`` (``sep_token_extra``) builds ``<s> pieces </s> </s>``: two closing separators; for BERT
  ``[CLS] pieces [SEP]``.
* ``third_party/run_tag.py`` ``save_predictions`` glues the chunks' predictions back into whole
  sentences; ``evaluate.py`` scores those. So **no word is ever truncated or left out**: every word of
  every sentence gets a prediction and is scored; its truncation to ``max_seq_length - 3`` never fires.

Here one example becomes one or more features (chunks) the same way, and ``decode`` reassembles one
prediction per word. Pieces come from the fast tokenizer's character offsets over the sentence, so the
same code serves SentencePiece (XLM-R, mDeBERTa), WordPiece (mBERT) and byte-level BPE (Llama-style
decoders, whose rows open with their ``<s>`` alone). (``run_tag.py``'s own dev score, used only to
pick checkpoints, treats chunks as sentences; the official score, and ``decode``, use whole sentences.)
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


def _pieces_per_word(examples: Sequence[TagExample], tokenizer: Any) -> list[list[list[int]]]:
    """Each word's sub-token ids, read from the tokenizer's character offsets over the whole sentence.

    The words are joined with single spaces and tokenized in one call; a token belongs to the word
    under its last character, or to the next word when that character is the space between two words
    (byte-level BPE's ``Ġword`` and SentencePiece's ``▁word`` carry the space before the word). Nothing
    here knows a tokenizer's marker characters. For WordPiece and SentencePiece this gives exactly the
    pieces of ``tokenizer.tokenize(word)`` on each word alone, as XTREME tokenizes; a byte-level BPE
    tokenizer sees the words as running text, with the spaces it was trained on.
    """
    texts: list[str] = []
    owners: list[tuple[np.ndarray, np.ndarray]] = []
    for example in examples:
        size = sum(len(w) + 1 for w in example.tokens)
        owner = np.empty(size, dtype=np.int64)
        inside = np.zeros(size, dtype=bool)  # a character of a word, not a space between two
        position = 0
        for w, word in enumerate(example.tokens):
            owner[position : position + len(word)] = w
            inside[position : position + len(word)] = True
            owner[position + len(word)] = w + 1  # the space after a word leads into the next one
            position += len(word) + 1
        texts.append(" ".join(example.tokens))
        owners.append((owner, inside))
    if not texts:
        return []
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    result = []
    for example, (owner, inside), ids, offsets in zip(
        examples, owners, encoded["input_ids"], encoded["offset_mapping"], strict=True
    ):
        words: list[list[int]] = [[] for _ in example.tokens]
        covered = [False] * len(words)
        for token, (start, end) in zip(ids, offsets, strict=True):
            char = min(end - 1 if end > start else start, len(owner) - 1)
            w = min(int(owner[char]), len(words) - 1)
            words[w].append(int(token))
            covered[w] |= bool(end > start and inside[char])
        # A word none of whose tokens covers one of its own characters (a lone zero-width character,
        # which the normalizer drops, leaving only the space before it) has no pieces of its own, as
        # tokenize(word) on it alone gives none.
        result.append([pieces if covered[w] else [] for w, pieces in enumerate(words)])
    return result


def _template(tokenizer: Any, sep_token_extra: bool | None) -> tuple[list[int], list[int]]:
    """The special ids before and after one sequence, from the tokenizer's own template.

    ``sep_token_extra=None`` follows XTREME's rule by family: tokenizers whose pair template puts two
    separators between the sequences (RoBERTa, XLM-R: ``<s> A </s> </s> B </s>``) get a second closing
    separator, as ``utils_tag.py`` gives ``xlmr``; others (``[CLS] A [SEP]``, Llama's ``<s> A``) keep
    their template.
    """
    probe = tokenizer("a", return_special_tokens_mask=True)
    ids, mask = probe["input_ids"], probe["special_tokens_mask"]
    if 0 not in mask:
        raise ValueError("the tokenizer turned the probe text 'a' into special tokens only; is it a text tokenizer?")
    first = mask.index(0)
    last = len(mask) - 1 - mask[::-1].index(0)
    prefix, suffix = list(ids[:first]), list(ids[last + 1 :])
    if sep_token_extra is None:
        between = tokenizer.num_special_tokens_to_add(pair=True) - tokenizer.num_special_tokens_to_add(pair=False)
        sep_token_extra = between >= 2 and tokenizer.sep_token_id is not None
    if sep_token_extra:
        if tokenizer.sep_token_id is None:
            raise ValueError("sep_token_extra needs a tokenizer with a sep token")
        suffix = [*suffix, tokenizer.sep_token_id]
    return prefix, suffix


def _stand_in_id(tokenizer: Any) -> int:
    # A word with no pieces still needs a position that carries its tag: <unk>, as XTREME uses, or the
    # end-of-sequence token of a byte-level tokenizer that has no <unk> (it never needs one otherwise).
    for candidate in (tokenizer.unk_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id):
        if candidate is not None:
            return int(candidate)
    raise ValueError("the tokenizer has no unk, eos or pad token to stand in for a word without pieces")


def featurize(
    examples: Sequence[TagExample], *, tokenizer: Any, max_length: int, sep_token_extra: bool | None = None
) -> TagFeatures:
    """Tokenize the words, split long sentences into chunks, and label first sub-tokens.

    Rows get the tokenizer's own special tokens (``<s> .. </s>``, ``[CLS] .. [SEP]``, ``<s> ..``);
    ``sep_token_extra`` (XTREME's flag for ``xlmr``/``roberta``, decided from the tokenizer when None)
    adds a second closing separator. An example tag of -1 (no gold label) becomes -100, so it adds
    nothing to a loss.

    Example: with "Hello" split into two pieces, ``featurize([TagExample("s1", ("Hello", "world"), (4, 7))],
    tokenizer=tok, max_length=128).labels == [[-100, 4, -100, 7, -100, -100]]`` for an XLM-R tokenizer.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("tagging needs a fast tokenizer (it reads character offset mappings)")
    prefix, closing = _template(tokenizer, sep_token_extra)
    unk_id = _stand_in_id(tokenizer)
    budget = max_length - len(prefix) - len(closing)
    if budget < 1:
        raise ValueError(
            f"max_length {max_length} leaves no room for a word next to {len(prefix) + len(closing)} specials"
        )
    for example in examples:
        if len(example.tags) != len(example.tokens):
            raise ValueError(
                f"example {example.id!r}: {len(example.tokens)} words but {len(example.tags)} tags; "
                "a tagging example needs one tag per word"
            )
        bad = [t for t in example.tags if t < -1]
        if bad:
            raise ValueError(f"example {example.id!r}: tag {bad[0]} is neither a class index nor -1 (no gold)")
    pieces = _pieces_per_word(examples, tokenizer)

    input_ids: list[list[int]] = []
    labels: list[list[int]] = []
    word_index: list[list[int]] = []
    example_index: list[int] = []

    def close(ids: list[int], labs: list[int], words: list[int], source: int) -> None:
        input_ids.append([*prefix, *ids, *closing])
        labels.append([*[IGNORE] * len(prefix), *labs, *[IGNORE] * len(closing)])
        word_index.append([*[-1] * len(prefix), *words, *[-1] * len(closing)])
        example_index.append(source)

    for source, example in enumerate(examples):
        ids: list[int] = []
        labs: list[int] = []
        words: list[int] = []
        for w, tag in enumerate(example.tags):
            word_ids = pieces[source][w]
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
