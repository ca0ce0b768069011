"""Multiple-choice features: (context, choice) pairs, context-first truncation, [B, C, T] batches, argmax decode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trainers.examples import ChoiceExample
from trainers.kinds import multiple_choice as mc
from trainers.scoring.classification import multiple_choice_accuracy_scores

from .tokenizer_helpers import xlmr_fast

SAMPLE = Path(__file__).resolve().parents[4] / "shared" / "data" / "xtreme-sample"
CORPUS = [
    "My body cast a shadow over the grass . What was the cause ?",
    "The sun was rising . The grass was cut .",
    "The man turned on the faucet . What happened as a result ?",
    "Water flowed from the spout . The toilet filled with water .",
]


@pytest.fixture(scope="module")
def tokenizer():
    """A tiny XLM-R-like fast tokenizer trained here (no download): <s>=0 <pad>=1 </s>=2 <unk>=3."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=150, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], show_progress=False)
    tok.train_from_iterator(CORPUS * 3, trainer)
    return xlmr_fast(tok)


def pieces(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_each_choice_is_the_pair_context_choice(tokenizer):
    example = ChoiceExample("q1", "The sun was rising .", ("The grass was cut .", "My body cast a shadow ."), 1)
    features = mc.featurize([example], tokenizer=tokenizer, max_length=64)
    assert features.labels == [1] and features.ids == ["q1"] and len(features) == 1
    for choice, ids in zip(example.choices, features.input_ids[0], strict=True):
        assert ids == [0, *pieces(tokenizer, example.context), 2, 2, *pieces(tokenizer, choice), 2]


def test_long_context_is_cut_and_the_choice_kept_whole(tokenizer):
    context = " ".join(["The man turned on the faucet ."] * 20)
    choices = ("Water flowed .", "The toilet filled with water .")
    features = mc.featurize([ChoiceExample("long", context, choices, 0)], tokenizer=tokenizer, max_length=32)
    for choice, ids in zip(choices, features.input_ids[0], strict=True):
        choice_ids = pieces(tokenizer, choice)
        assert len(ids) == 32
        assert ids[-len(choice_ids) - 1 :] == [*choice_ids, 2]
        kept = 32 - len(choice_ids) - 4
        assert ids[: kept + 3] == [0, *pieces(tokenizer, context)[:kept], 2, 2]


def test_a_choice_too_long_for_the_row_cuts_both_sides(tokenizer):
    choice = " ".join(["Water flowed from the spout ."] * 10)
    features = mc.featurize(
        [ChoiceExample("huge", "The sun was rising .", ("The grass was cut .", choice), 0)],
        tokenizer=tokenizer,
        max_length=24,
    )
    short, long = features.input_ids[0]
    assert len(long) == 24 and long[0] == 0 and long[-1] == 2
    assert long.count(2) == 3  # both sides survive: <s> context </s></s> choice </s>
    assert short == [0, *pieces(tokenizer, "The sun was rising ."), 2, 2, *pieces(tokenizer, "The grass was cut ."), 2]


def test_batches_have_the_multiple_choice_shape(tokenizer):
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForMultipleChoice

    torch.set_num_threads(1)
    examples = [
        ChoiceExample("a", "The sun was rising .", ("The grass was cut .", "Water flowed .", "My body cast."), 2),
        ChoiceExample("b", "The man turned on the faucet .", ("Water flowed from the spout .", "The sun .", "A."), -1),
        ChoiceExample("c", "The grass .", ("cut", "rising", "water"), 0),
    ]
    features = mc.featurize(examples, tokenizer=tokenizer, max_length=64)
    batches = list(mc.batches(features, order=[1, 0, 2], batch_size=2, pad_id=tokenizer.pad_token_id))
    assert [b["input_ids"].shape[:2] for b in batches] == [(2, 3), (1, 3)]
    first = batches[0]
    width = max(len(ids) for i in (0, 1) for ids in features.input_ids[i])
    assert first["input_ids"].shape == first["attention_mask"].shape == (2, 3, width)
    assert first["labels"].tolist() == [-100, 2]  # no gold (-1) is sent as the loss's ignore index
    seq = features.input_ids[1][2]
    assert first["input_ids"][0, 2, : len(seq)].tolist() == seq
    assert first["input_ids"][0, 2, len(seq) :].eq(tokenizer.pad_token_id).all()
    assert first["attention_mask"][0, 2].tolist() == [1] * len(seq) + [0] * (width - len(seq))

    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=70,
        pad_token_id=1,
    )
    model = XLMRobertaForMultipleChoice(config).eval()
    with torch.no_grad():
        out = model(**batches[1])
    assert out.logits.shape == (1, 3) and torch.isfinite(out.loss)


def test_mixed_choice_counts_in_a_batch_name_the_example(tokenizer):
    examples = [ChoiceExample("two", "a", ("b", "c"), 0), ChoiceExample("three", "a", ("b", "c", "d"), 0)]
    features = mc.featurize(examples, tokenizer=tokenizer, max_length=16)
    with pytest.raises(ValueError, match="'three' has 3 choices but example 'two'"):
        list(mc.batches(features, order=[0, 1], batch_size=2, pad_id=1))
    assert len(list(mc.batches(features, order=[0, 1], batch_size=1, pad_id=1))) == 2


def test_bad_examples_are_refused(tokenizer):
    with pytest.raises(ValueError, match="'x': label 2"):
        mc.featurize([ChoiceExample("x", "a", ("b", "c"), 2)], tokenizer=tokenizer, max_length=16)
    with pytest.raises(ValueError, match="'y' has no choices"):
        mc.featurize([ChoiceExample("y", "a", (), -1)], tokenizer=tokenizer, max_length=16)
    with pytest.raises(ValueError, match="max_length 5"):
        mc.featurize([ChoiceExample("z", "a", ("b",), 0)], tokenizer=tokenizer, max_length=5)
    assert mc.featurize([], tokenizer=tokenizer, max_length=16).input_ids == []


def test_decode_is_argmax():
    logits = np.array([[0.1, 2.0, -1.0], [3.0, -1.0, 0.0], [0.5, 0.5, 0.2]])
    assert mc.decode(logits) == [1, 0, 0]  # ties go to the first choice, as np.argmax
    assert multiple_choice_accuracy_scores(mc.decode(logits), [1, 0, 2]) == pytest.approx({"accuracy": 2 / 3})
    with pytest.raises(ValueError, match="examples, choices"):
        mc.decode(np.zeros(3))


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        pytest.skip(f"{path} is absent (a fresh clone has no ../shared)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_xcopa_sample(tokenizer):
    records = read_jsonl(SAMPLE / "hf" / "xcopa.et" / "test.jsonl")
    # The real context is the reader's job; this stand-in only has to be premise + question.
    examples = [
        ChoiceExample(
            str(r["idx"]),
            r["premise"] + " " + ("What was the cause?" if r["question"] == "cause" else "What happened as a result?"),
            (r["choice1"], r["choice2"]),
            r["label"],
        )
        for r in records
    ]
    assert len(examples) == 500
    features = mc.featurize(examples, tokenizer=tokenizer, max_length=128)
    assert all(len(choices) == 2 for choices in features.input_ids)
    assert features.labels == [r["label"] for r in records]
    assert all(len(ids) <= 128 and ids.count(2) == 3 for choices in features.input_ids for ids in choices)
    shapes = [b["input_ids"].shape[:2] for b in mc.batches(features, order=list(range(500)), batch_size=64, pad_id=1)]
    assert sum(s[0] for s in shapes) == 500 and {s[1] for s in shapes} == {2}


def test_commonsense_qa_sample(tokenizer):
    records = read_jsonl(SAMPLE / "hf" / "commonsense_qa" / "validation.jsonl")
    examples = [
        ChoiceExample(r["id"], r["question"], tuple(r["choices"]["text"]), r["choices"]["label"].index(r["answerKey"]))
        for r in records
    ]
    features = mc.featurize(examples, tokenizer=tokenizer, max_length=64)
    assert len(features) == len(records) and all(len(choices) == 5 for choices in features.input_ids)
    assert features.labels == ["ABCDE".index(r["answerKey"]) for r in records]
    for example, choices in zip(examples[:50], features.input_ids[:50], strict=True):
        for choice, ids in zip(example.choices, choices, strict=True):
            assert ids[-len(pieces(tokenizer, choice)) - 1 :] == [*pieces(tokenizer, choice), 2]
