"""Extractive QA features: targets from gold spans, decoding back to the exact gold text, and errors.

The tokenizer is a small Unigram model trained here (no download) with XLM-R's pair template and a
SentencePiece-style ``Metaspace`` pre-tokenizer, so words really split into sub-words and tokens carry
their leading space. It also isolates CJK characters, punctuation and digit runs: that makes every
gold answer boundary a token boundary (a property of the tokenizer, not of the code under test), so
a perfect round trip must give back the gold text character for character.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainers.examples import Answer, SpanExample
from trainers.kinds.qa import GoldSpanError, QAFeatures, batches, decode, featurize
from trainers.scoring.qa import squad_v1_scores

from .tokenizer_helpers import xlmr_fast

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "xtreme-sample" / "hf"
REAL_FILES = ("XQuAD.de", "XQuAD.zh", "squad")


def _tokenizer(texts: list[str], *, vocab_size: int) -> Any:
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

    model = Tokenizer(models.Unigram())
    model.normalizer = normalizers.NFKC()
    model.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"[\u3000-\u9fff\uff00-\uffef]"), behavior="isolated"),
            pre_tokenizers.Punctuation(),
            pre_tokenizers.Digits(individual_digits=False),
            pre_tokenizers.Metaspace(),
        ]
    )
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    model.train_from_iterator(texts, trainer)
    return xlmr_fast(model)


def _span(id_: str, question: str, context: str, answer: str | None, *, occurrence: int = 0) -> SpanExample:
    """A SpanExample whose answer is the ``occurrence``-th appearance of ``answer`` in the context."""
    if answer is None:
        return SpanExample(id_, question, context, ())
    start = -1
    for _ in range(occurrence + 1):
        start = context.index(answer, start + 1)
    return SpanExample(id_, question, context, (Answer(answer, start),))


_FILLER = " ".join(
    f"In year {1900 + i} the committee of district {i} discussed roads, bridges and harbours at length."
    for i in range(40)
)
SYNTHETIC = [
    _span("punct", "What did the sign say?", 'The sign said: "Keep out!" in red letters.', '"Keep out!"'),
    _span("abbrev", "Where is he from?", "He moved from the U.S.A. to Canada in 1998.", "U.S.A."),
    _span("german", "Wer grüßt?", "Viele Grüße aus München, schrieb Jürgen Weiß.", "Jürgen Weiß"),
    _span("chinese", "哪所大学？", "他在北京大学学习了四年，然后去了上海。", "北京大学"),
    _span("number", "How much?", "It cost 6½ million dollars (about €5.2m) in 2016.", "€5.2m"),
    _span("first", "What is first?", "Alpha comes first and omega comes last.", "Alpha"),
    _span("late", "Where is the treasure?", _FILLER + " The treasure lies under the old oak tree.", "the old oak tree"),
    _span("impossible", "Who won the 2030 cup?", "The committee discussed roads and bridges.", None),
]
SMALL = {"max_length": 48, "doc_stride": 16, "max_query_length": 12}


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    texts = [t for e in SYNTHETIC for t in (e.question, e.context)]
    return _tokenizer(texts, vocab_size=300)


def _one_hot(features: QAFeatures) -> tuple[np.ndarray, np.ndarray]:
    """Logits that put all the mass on the training targets, as a perfectly trained model would."""
    width = max(len(ids) for ids in features.input_ids)
    starts, ends = np.zeros((len(features), width)), np.zeros((len(features), width))
    rows = np.arange(len(features))
    starts[rows, features.start_positions] = 1.0
    ends[rows, features.end_positions] = 1.0
    return starts, ends


def test_subwords_really_split(tokenizer: Any) -> None:
    pieces = tokenizer.tokenize("harbours discussed committee")
    assert len(pieces) > 3


def test_round_trip_gives_back_gold_text(tokenizer: Any) -> None:
    features = featurize(SYNTHETIC, tokenizer=tokenizer, train=True, **SMALL)
    predictions = decode(SYNTHETIC, features, *_one_hot(features), allow_impossible=True)
    expected = {e.id: (e.answers[0].text if e.answers else "") for e in SYNTHETIC}
    assert predictions == expected


def test_long_context_answer_in_later_window(tokenizer: Any) -> None:
    late = next(i for i, e in enumerate(SYNTHETIC) if e.id == "late")
    features = featurize([SYNTHETIC[late]], tokenizer=tokenizer, train=True, **SMALL)
    assert len(features) > 5
    assert all(len(ids) <= SMALL["max_length"] for ids in features.input_ids)
    with_answer = [w for w in range(len(features)) if features.start_positions[w] != 0]
    assert with_answer and with_answer[0] > 0
    assert features.start_positions[0] == features.end_positions[0] == 0
    # Consecutive windows share doc_stride context tokens.
    first, second = features.offsets[0], features.offsets[1]
    context_first = [span for span in first if span is not None]
    context_second = [span for span in second if span is not None]
    assert context_first[-SMALL["doc_stride"] :] == context_second[: SMALL["doc_stride"]]
    assert decode([SYNTHETIC[late]], features, *_one_hot(features)) == {"late": "the old oak tree"}


def test_targets_and_offsets(tokenizer: Any) -> None:
    features = featurize(SYNTHETIC, tokenizer=tokenizer, train=True, **SMALL)
    for w, index in enumerate(features.example_index):
        example, offsets, ids = SYNTHETIC[index], features.offsets[w], features.input_ids[w]
        assert len(offsets) == len(ids) and ids[0] == tokenizer.cls_token_id
        assert offsets[0] is None and offsets[-1] is None  # specials
        start, end = features.start_positions[w], features.end_positions[w]
        if start:
            assert offsets[start][0] == example.answers[0].start
            assert offsets[end][1] == example.answers[0].start + len(example.answers[0].text)
        elif example.answers:
            assert end == 0
    impossible = [w for w, i in enumerate(features.example_index) if not SYNTHETIC[i].answers]
    assert impossible and all(features.start_positions[w] == features.end_positions[w] == 0 for w in impossible)


def test_eval_features_have_cls_targets_and_skip_gold_check(tokenizer: Any) -> None:
    bad = SpanExample("bad", "Where?", "Paris is in France.", (Answer("Paris", 3),))
    features = featurize([bad], tokenizer=tokenizer, train=False)
    assert features.start_positions == features.end_positions == [0]


def test_question_truncated_to_max_query_length(tokenizer: Any) -> None:
    long_question = " ".join(["committee roads bridges harbours"] * 10) + "?"
    example = _span("q", long_question, "The roads were repaired.", "roads")
    features = featurize([example], tokenizer=tokenizer, train=True, max_length=64, doc_stride=8, max_query_length=7)
    first_context = next(t for t, span in enumerate(features.offsets[0]) if span is not None)
    assert first_context - 3 <= 7  # <s> question </s> </s>
    assert decode([example], features, *_one_hot(features)) == {"q": "roads"}


def test_decode_limits_and_null_threshold(tokenizer: Any) -> None:
    example = _span("x", "What comes first?", "Alpha comes first and omega comes last.", "Alpha")
    features = featurize([example], tokenizer=tokenizer, train=True)
    starts, ends = _one_hot(features)
    assert decode([example], features, starts, ends) == {"x": "Alpha"}
    # A longer span outside max_answer_length loses to a shorter valid one.
    last = max(t for t, span in enumerate(features.offsets[0]) if span is not None)
    ends[0, last] = 5.0
    alpha_tokens = features.end_positions[0] - features.start_positions[0] + 1
    assert decode([example], features, starts, ends, max_answer_length=alpha_tokens) == {"x": "Alpha"}
    assert decode([example], features, starts, ends)["x"] == "Alpha comes first and omega comes last."
    # Null score 3 vs best span 2: "" only with allow_impossible, and only beyond the threshold.
    starts, ends = _one_hot(features)
    starts[0, 0] = ends[0, 0] = 1.5
    assert decode([example], features, starts, ends) == {"x": "Alpha"}
    assert decode([example], features, starts, ends, allow_impossible=True) == {"x": ""}
    assert decode([example], features, starts, ends, allow_impossible=True, null_threshold=1.5) == {"x": "Alpha"}


def test_batches_pad_and_carry_targets(tokenizer: Any) -> None:
    torch = pytest.importorskip("torch")
    features = featurize(SYNTHETIC[:4], tokenizer=tokenizer, train=True)
    order = [3, 0, 2, 1]
    out = list(batches(features, order=order, batch_size=3, pad_id=tokenizer.pad_token_id))
    assert [b["input_ids"].shape[0] for b in out] == [3, 1]
    first = out[0]
    assert set(first) == {"input_ids", "attention_mask", "start_positions", "end_positions"}
    for row, w in enumerate(order[:3]):
        n = len(features.input_ids[w])
        assert first["input_ids"][row, :n].tolist() == features.input_ids[w]
        assert first["attention_mask"][row].sum().item() == n
        assert (first["input_ids"][row, n:] == tokenizer.pad_token_id).all()
    assert first["start_positions"].tolist() == [features.start_positions[w] for w in order[:3]]
    assert first["end_positions"].dtype == torch.long


def test_mismatched_logits_shape_raises(tokenizer: Any) -> None:
    features = featurize(SYNTHETIC[:2], tokenizer=tokenizer, train=True)
    starts, ends = _one_hot(features)
    with pytest.raises(ValueError, match="windows"):
        decode(SYNTHETIC[:2], features, starts[:1], ends[:1])
    with pytest.raises(ValueError, match="same shape"):
        decode(SYNTHETIC[:2], features, starts, ends[:, :-1])
    with pytest.raises(ValueError, match="token positions"):
        decode(SYNTHETIC[:2], features, starts[:, :3], ends[:, :3])


def test_wrong_answer_start_names_the_example(tokenizer: Any) -> None:
    bad = SpanExample("q-42", "Where?", "Paris is in France.", (Answer("France", 3),))
    with pytest.raises(ValueError, match="q-42") as caught:
        featurize([bad], tokenizer=tokenizer, train=True)
    assert isinstance(caught.value, GoldSpanError)


def test_doc_stride_too_large_raises(tokenizer: Any) -> None:
    with pytest.raises(ValueError, match="doc_stride"):
        featurize(SYNTHETIC[:1], tokenizer=tokenizer, train=True, max_length=32, doc_stride=30)


def _read(name: str, limit: int = 40) -> list[SpanExample]:
    examples = []
    with (DATA / name / "validation.jsonl").open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            answers = record["answers"]
            spans = zip(answers["text"], answers["answer_start"], strict=True)
            examples.append(
                SpanExample(
                    id=record["id"],
                    question=record["question"],
                    context=record["context"],
                    answers=tuple(Answer(text, start) for text, start in spans),
                )
            )
            if len(examples) == limit:
                break
    return examples


@pytest.fixture(scope="module")
def real_data() -> dict[str, list[SpanExample]]:
    missing = [name for name in REAL_FILES if not (DATA / name / "validation.jsonl").exists()]
    if missing:
        pytest.skip(f"xtreme-sample data not found under {DATA} ({', '.join(missing)})")
    return {name: _read(name) for name in REAL_FILES}


@pytest.fixture(scope="module")
def real_tokenizer(real_data: dict[str, list[SpanExample]]) -> Any:
    texts = [t for examples in real_data.values() for e in examples for t in (e.question, e.context)]
    return _tokenizer(texts, vocab_size=2000)


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_data_round_trip(name: str, real_data: dict[str, list[SpanExample]], real_tokenizer: Any) -> None:
    examples = real_data[name]
    # max_query_length 32 so 128-token windows keep more than doc_stride=64 context tokens.
    features = featurize(
        examples, tokenizer=real_tokenizer, max_length=128, doc_stride=64, max_query_length=32, train=True
    )
    predictions = decode(examples, features, *_one_hot(features), max_answer_length=128)
    fits = sorted({features.example_index[w] for w in range(len(features)) if features.start_positions[w] != 0})
    print(f"{name}: {len(examples)} examples, {len(features)} windows, {len(fits)} answers inside a window")
    assert len(features) > len(examples)  # long contexts really were split
    assert fits, "no answer fits in any window"
    for i in fits:
        assert predictions[examples[i].id] == examples[i].answers[0].text, examples[i].id
    scores = squad_v1_scores(
        [predictions[examples[i].id] for i in fits], [[a.text for a in examples[i].answers] for i in fits]
    )
    assert scores["exact_match"] == 1.0
