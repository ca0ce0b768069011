"""QA offsets and tag alignment with mBERT's real WordPiece tokenizer on real XTREME data.

The tokenizer's files and the data live in ``../shared`` (a fresh clone has none): these tests skip
cleanly without them. The tiny test tokenizers of each family are covered in ``test_families.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainers.examples import Answer, SpanExample, TagExample
from trainers.kinds import qa, tagging
from trainers.scoring.tagging import seqeval_scores

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
MBERT = SHARED / "tokenizers" / "bert-base-multilingual-cased"
HF = SHARED / "xtreme-sample" / "hf"
UPOS = "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
NER = "O B-PER I-PER B-ORG I-ORG B-LOC I-LOC".split()


def _records(folder: str, split: str) -> list[dict[str, Any]]:
    path = HF / folder / f"{split}.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent (a fresh clone has no ../shared)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def mbert() -> Any:
    if not (MBERT / "vocab.txt").is_file():
        pytest.skip(f"{MBERT} is absent (a fresh clone has no ../shared)")
    from trainers.model import load_tokenizer
    from trainers.spec import ModelSpec

    tokenizer = load_tokenizer(ModelSpec(name="mbert", init="pretrained", tokenizer=str(MBERT)))
    assert tokenizer.is_fast and tokenizer.vocab_size == 119547
    return tokenizer


def _gold_logits(features: tagging.TagFeatures, num_tags: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    rows = []
    for labels in features.labels:
        row = rng.normal(size=(len(labels), num_tags))
        for t, label in enumerate(labels):
            if label >= 0:
                row[t, label] = 100.0
        rows.append(row)
    return rows


TAG_SETS = [
    ("udpos.English", "test", "pos_tags", UPOS),
    ("udpos.German", "test", "pos_tags", UPOS),
    ("udpos.Chinese", "test", "pos_tags", UPOS),
    ("udpos.Russian", "test", "pos_tags", UPOS),
    ("PAN-X.de", "validation", "ner_tags", NER),
    ("PAN-X.zh", "validation", "ner_tags", NER),
    ("PAN-X.ar", "validation", "ner_tags", NER),
]


@pytest.mark.parametrize(("folder", "split", "field", "names"), TAG_SETS, ids=[t[0] for t in TAG_SETS])
def test_tagging_with_mbert_matches_xtreme_and_round_trips(
    mbert: Any, folder: str, split: str, field: str, names: list[str]
) -> None:
    records = _records(folder, split)
    examples = [
        TagExample(f"{folder}-{i}", tuple(r["tokens"]), tuple(names.index(t) for t in r[field]))
        for i, r in enumerate(records)
    ]
    features = tagging.featurize(examples, tokenizer=mbert, max_length=128)
    # BERT's own template, one separator: XTREME adds the second one only for XLM-R and RoBERTa.
    assert all(ids[0] == mbert.cls_token_id and ids[-1] == mbert.sep_token_id for ids in features.input_ids)
    assert all(ids[-2] != mbert.sep_token_id for ids in features.input_ids)
    assert all(len(ids) <= 128 for ids in features.input_ids)

    # The pieces of every word are those of tokenize(word) on the word alone, as XTREME's
    # utils_preprocess.py makes them (or [UNK] where that gives none).
    pieces: dict[tuple[int, int], list[int]] = {}
    for ids, words, source in zip(features.input_ids, features.word_index, features.example_index, strict=True):
        for token, w in zip(ids, words, strict=True):
            if w >= 0:
                pieces.setdefault((source, w), []).append(token)
    checked = 0
    for source, example in enumerate(examples):
        for w, word in enumerate(example.tokens):
            alone = mbert(word, add_special_tokens=False)["input_ids"] or [mbert.unk_token_id]
            assert pieces[(source, w)] == alone, (example.id, w, word)
            checked += 1
    assert checked == sum(len(ex.tokens) for ex in examples)

    predictions = tagging.decode(examples, features, _gold_logits(features, len(names)))
    assert predictions == [list(ex.tags) for ex in examples]
    gold_names = [list(r[field]) for r in records]
    assert seqeval_scores([[names[t] for t in p] for p in predictions], gold_names)["f1"] == 1.0


def _spans(folder: str, limit: int = 60) -> list[SpanExample]:
    examples = []
    for record in _records(folder, "validation")[:limit]:
        answers = record["answers"]
        examples.append(
            SpanExample(
                id=record["id"],
                question=record["question"],
                context=record["context"],
                answers=tuple(Answer(t, s) for t, s in zip(answers["text"], answers["answer_start"], strict=True)),
            )
        )
    return examples


@pytest.mark.parametrize("folder", ["squad", "XQuAD.de", "XQuAD.zh"])
def test_qa_offsets_with_mbert_give_back_the_gold_answers(mbert: Any, folder: str) -> None:
    examples = _spans(folder)
    features = qa.featurize(examples, tokenizer=mbert, max_length=192, doc_stride=64, max_query_length=48, train=True)
    assert all(len(ids) <= 192 and ids[0] == mbert.cls_token_id for ids in features.input_ids)
    start = np.full((len(features), 192), -10.0)
    end = np.full((len(features), 192), -10.0)
    for w in range(len(features)):
        start[w, features.start_positions[w]] = 10.0
        end[w, features.end_positions[w]] = 10.0
    predictions = qa.decode(examples, features, start, end, max_answer_length=200)
    inside = {features.example_index[w] for w in range(len(features)) if features.start_positions[w] != qa.CLS_INDEX}
    assert len(inside) >= len(examples) * 0.9, "most answers should fall inside some window"
    exact = 0
    for i in inside:
        gold, predicted = examples[i].answers[0].text, predictions[examples[i].id]
        # A target is whole tokens: an answer that is part of a word piece ("gold" of "golden", "8" of
        # SQuAD's "20–18") comes back as the whole piece, as with run_qa.py; the rest comes back verbatim.
        assert gold in predicted and len(predicted) - len(gold) <= 8, (examples[i].id, gold, predicted)
        exact += predicted == gold
    assert exact >= 0.9 * len(inside), f"{exact} of {len(inside)} answers came back verbatim"
