"""Token tagging features: first-sub-token labels, XTREME's chunking of long sentences, decode round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trainers.examples import TagExample
from trainers.kinds import tagging
from trainers.scoring.tagging import seqeval_scores

from .tokenizer_helpers import xlmr_fast

SAMPLE = Path(__file__).resolve().parents[4] / "shared" / "data" / "xtreme-sample"
UPOS = "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
CORPUS = [
    "The quick brown fox jumps over the lazy dog .",
    "Unbelievably , the internationalization worked !",
    "Der schnelle braune Fuchs springt über den faulen Hund .",
    "What if Google morphed into GoogleOS ?",
]


@pytest.fixture(scope="module")
def tokenizer():
    """A tiny XLM-R-like fast tokenizer trained here (no download): <s>=0 <pad>=1 </s>=2 <unk>=3."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    # Control and zero-width characters vanish, as XLM-R's normalizer drops them: such a word has no pieces.
    tok.normalizer = normalizers.Sequence([normalizers.Replace(Regex(r"[\x00-\x1f\u200b]"), ""), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    # A small vocabulary, so that long words split into many pieces.
    trainer = trainers.BpeTrainer(vocab_size=120, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], show_progress=False)
    tok.train_from_iterator(CORPUS * 3, trainer)
    return xlmr_fast(tok)


def one_hot_logits(features: tagging.TagFeatures, num_tags: int, *, noise_seed: int = 0) -> list[np.ndarray]:
    """Logits whose argmax is the gold label on labelled positions and random elsewhere."""
    rng = np.random.default_rng(noise_seed)
    out = []
    for labels in features.labels:
        row = rng.normal(size=(len(labels), num_tags))
        for t, label in enumerate(labels):
            if label >= 0:
                row[t, label] = 100.0
        out.append(row)
    return out


def test_labels_sit_on_first_sub_tokens(tokenizer):
    example = TagExample("s1", ("The", "fox", "Unbelievably", "."), (5, 7, 2, 12))
    pieces = [tokenizer.tokenize(w) for w in example.tokens]
    assert pieces == [["▁The"], ["▁f", "ox"], ["▁Un", "bel", "iev", "ab", "ly"], ["▁."]]
    features = tagging.featurize([example], tokenizer=tokenizer, max_length=32)
    tokens = tokenizer.convert_ids_to_tokens(features.input_ids[0])
    # XTREME's XLM-R rows end with two separators (utils_tag.py sep_token_extra).
    assert tokens == ["<s>", "▁The", "▁f", "ox", "▁Un", "bel", "iev", "ab", "ly", "▁.", "</s>", "</s>"]
    assert features.labels[0] == [-100, 5, 7, -100, 2, -100, -100, -100, -100, 12, -100, -100]
    assert features.word_index[0] == [-1, 0, 1, 1, 2, 2, 2, 2, 2, 3, -1, -1]
    assert features.example_index == [0]
    # BERT-style rows: one closing separator.
    single = tagging.featurize([example], tokenizer=tokenizer, max_length=32, sep_token_extra=False)
    assert single.input_ids[0] == features.input_ids[0][:-1]


def test_round_trip_with_many_piece_words_and_scoring(tokenizer):
    examples = [
        TagExample("a", ("Unbelievably", ",", "the", "internationalization", "worked", "!"), (2, 12, 5, 7, 15, 12)),
        TagExample("b", ("GoogleOS", "zzzz", "?"), (11, 16, 12)),
        TagExample("c", (), ()),
    ]
    features = tagging.featurize(examples, tokenizer=tokenizer, max_length=64)
    assert max(len(tokenizer.tokenize(w)) for w in examples[0].tokens) >= 5
    predictions = tagging.decode(examples, features, one_hot_logits(features, len(UPOS)))
    assert predictions == [list(ex.tags) for ex in examples]
    names = [[UPOS[t] for t in p] for p in predictions[:2]]
    gold = [[UPOS[t] for t in ex.tags] for ex in examples[:2]]
    assert seqeval_scores(names, gold)["f1"] == 1.0
    # A stacked, padded logits array works as well as a list of rows.
    width = max(len(r) for r in features.input_ids)
    stacked = np.zeros((len(features), width, len(UPOS)))
    for i, row in enumerate(one_hot_logits(features, len(UPOS))):
        stacked[i, : len(row)] = row
    assert tagging.decode(examples, features, stacked) == predictions


def test_empty_words_become_unk_and_keep_their_tag(tokenizer):
    example = TagExample("e", ("The", "\u200b", "fox", " "), (5, 14, 7, 16))
    assert tokenizer.tokenize("\u200b") == [] and tokenizer.tokenize(" ") == []
    features = tagging.featurize([example], tokenizer=tokenizer, max_length=32)
    tokens = tokenizer.convert_ids_to_tokens(features.input_ids[0])
    assert tokens == ["<s>", "▁The", "<unk>", "▁f", "ox", "<unk>", "</s>", "</s>"]
    assert features.labels[0] == [-100, 5, 14, 7, -100, 16, -100, -100]
    assert tagging.decode([example], features, one_hot_logits(features, len(UPOS))) == [list(example.tags)]


def test_long_sentences_split_into_chunks_and_no_word_is_dropped(tokenizer):
    # max_length 8 leaves 5 pieces per row for XLM-R: "Unbelievably" (5) fills a row on its own,
    # "internationalization" (6) fits in none and becomes <unk>, as utils_preprocess.py does.
    words = ("The", "fox", "Unbelievably", "the", "internationalization", "fox", "jumps", ".")
    example = TagExample("long", words, tuple(range(len(words))))
    short = TagExample("short", ("The",), (4,))
    features = tagging.featurize([short, example], tokenizer=tokenizer, max_length=8)
    assert all(len(ids) <= 8 for ids in features.input_ids)
    assert features.example_index[0] == 0 and set(features.example_index[1:]) == {1}
    chunks = [
        sorted({w for w in words_ if w >= 0})
        for words_, source in zip(features.word_index, features.example_index, strict=True)
        if source == 1
    ]
    assert chunks == [[0, 1], [2], [3, 4, 5], [6, 7]]
    unk_row = features.input_ids[3]
    assert tokenizer.convert_ids_to_tokens(unk_row) == ["<s>", "▁the", "<unk>", "▁f", "ox", "</s>", "</s>"]
    for ids in features.input_ids:
        assert ids[0] == tokenizer.cls_token_id and ids[-2:] == [tokenizer.sep_token_id] * 2
    predictions = tagging.decode([short, example], features, one_hot_logits(features, len(words)))
    assert predictions == [[4], list(range(len(words)))]


def test_batches_pad_labels_with_ignore_index(tokenizer):
    examples = [TagExample("a", ("The", "fox"), (1, 2)), TagExample("b", ("Unbelievably",), (-1,))]
    features = tagging.featurize(examples, tokenizer=tokenizer, max_length=32)
    (batch,) = list(tagging.batches(features, order=[1, 0], batch_size=4, pad_id=tokenizer.pad_token_id))
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape == (2, 8)
    assert batch["labels"][0].tolist() == [-100] * 8  # no gold (-1) means no loss
    assert batch["labels"][1].tolist() == [-100, 1, 2, -100, -100, -100, -100, -100]
    # "<s> ▁The ▁f ox </s> </s>" is 6 tokens; the other row ("▁Un bel iev ab ly") sets the width to 8.
    assert batch["input_ids"][1, 6:].tolist() == [tokenizer.pad_token_id] * 2
    assert batch["attention_mask"][1].tolist() == [1] * 6 + [0] * 2


def test_token_classification_model_takes_a_batch(tokenizer):
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForTokenClassification

    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=40,
        pad_token_id=1,
        num_labels=len(UPOS),
    )
    model = XLMRobertaForTokenClassification(config).eval()
    examples = [TagExample("a", ("The", "fox"), (1, 2)), TagExample("b", ("Unbelievably", "!"), (3, 12))]
    features = tagging.featurize(examples, tokenizer=tokenizer, max_length=32)
    rows = []
    for batch in tagging.batches(features, order=[0, 1], batch_size=2, pad_id=tokenizer.pad_token_id):
        with torch.no_grad():
            out = model(**batch)
        assert torch.isfinite(out.loss)
        rows.extend(out.logits.numpy())
    predictions = tagging.decode(examples, features, rows)
    assert [len(p) for p in predictions] == [2, 2]


def test_bad_inputs_are_refused(tokenizer):
    with pytest.raises(ValueError, match="'x'.*2 words but 1 tags"):
        tagging.featurize([TagExample("x", ("a", "b"), (0,))], tokenizer=tokenizer, max_length=16)
    with pytest.raises(ValueError, match="max_length 3"):
        tagging.featurize([TagExample("x", ("a",), (0,))], tokenizer=tokenizer, max_length=3)
    examples = [TagExample("x", ("The", "fox"), (0, 1))]
    features = tagging.featurize(examples, tokenizer=tokenizer, max_length=16)
    with pytest.raises(ValueError, match="expected logits for 1"):
        tagging.decode(examples, features, [])
    with pytest.raises(ValueError, match="word 2 \\('extra'\\)"):
        tagging.decode([TagExample("x", ("The", "fox", "extra"), (0, 1, 2))], features, one_hot_logits(features, 3))


@pytest.mark.parametrize("language", ["English", "German", "Chinese", "Russian"])
def test_udpos_sample_round_trip(tokenizer, language):
    path = SAMPLE / "hf" / f"udpos.{language}" / "test.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent (a fresh clone has no ../shared)")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    examples = [
        TagExample(f"{language}-{i}", tuple(r["tokens"]), tuple(UPOS.index(t) for t in r["pos_tags"]))
        for i, r in enumerate(records)
    ]
    assert len(examples) == 150
    features = tagging.featurize(examples, tokenizer=tokenizer, max_length=128)
    assert all(len(ids) <= 128 for ids in features.input_ids)
    assert sorted(set(features.example_index)) == list(range(150))
    # The tiny vocabulary cuts words into many pieces, so some sentences span several rows: decode
    # has to glue chunks back together here, not only in the synthetic test above.
    assert len(features) > 150
    predictions = tagging.decode(examples, features, one_hot_logits(features, len(UPOS)))
    # Every word fits (XTREME splits long sentences rather than truncating), so every word round-trips.
    assert predictions == [list(ex.tags) for ex in examples]
    names = [[UPOS[t] for t in p] for p in predictions]
    assert seqeval_scores(names, [list(r["pos_tags"]) for r in records])["f1"] == 1.0
