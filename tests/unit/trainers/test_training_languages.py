"""Training in other languages: task references (``xnli@de+fr``), held-out dev slices, and
training sets concatenated over languages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainers import data as data_lib
from trainers.errors import DataError, TaskError
from trainers.model import load_tokenizer
from trainers.spec import ModelSpec, TrainingSpec, TrialSpec
from trainers.tasks import get_task, selection_languages, split_ref, training_data
from trainers.trial_data import prepare as _prepare

ROOT = Path(__file__).resolve().parents[3]
TOY = ROOT / "data" / "toy"


def test_task_references() -> None:
    assert split_ref("mnli") == ("mnli", None)
    assert split_ref("xnli@de+fr") == ("xnli", ("de", "fr"))
    assert split_ref("tydiqa@all") == ("tydiqa", get_task("tydiqa").languages)
    # Without languages a target trains on its English training task; with them, on its own data.
    assert [(t.name, langs) for t, langs in (training_data("xnli"), training_data("xnli@de+fr"))] == [
        ("mnli", ("en",)),
        ("xnli", ("de", "fr")),
    ]
    assert selection_languages("xnli") == ("en",)
    assert selection_languages("pawsx@de+es") == ("de", "es")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("xnli@", "names no language"),
        ("xnli@de+", "names no language"),
        ("xnli@de+de", "names a language twice"),
        ("xnli@ja", "has no data in `ja`"),
        ("xnli@xx", "unknown language `xx`"),
        ("xnly@de", "unknown task `xnly`"),
    ],
)
def test_bad_task_references(ref: str, expected: str) -> None:
    with pytest.raises(TaskError, match=expected):
        split_ref(ref)


def test_parse_split() -> None:
    assert data_lib.parse_split("train[:90%]") == ("train", 0, 90)
    assert data_lib.parse_split("train[90%:]") == ("train", 90, 100)
    assert data_lib.parse_split("dev_r1") == ("dev_r1", 0, 100)
    for bad in ("train[90%:10%]", "train[:0%]", "train[1:2]"):
        with pytest.raises(ValueError):
            data_lib.parse_split(bad)


def _squad_record(i: int, language: str) -> dict:
    context = f"record {i} has {i} apples"
    return {
        "id": f"{language}-{i}",
        "title": "t",
        "context": context,
        "question": f"how many apples in record {i}?",
        "answers": {"text": [str(i)], "answer_start": [context.rindex(str(i), 0, context.index(" apples"))]},
    }


def test_tydiqa_holds_out_the_last_tenth_of_each_language_for_dev(tmp_path: Path) -> None:
    folder = tmp_path / "tydiqa"
    folder.mkdir()
    # All languages in one file, interleaved, as the hub's tydiqa config stores them.
    rows = [_squad_record(i, lang) for i in range(20) for lang in ("english", "swahili")]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = get_task("tydiqa")
    for language, code in (("en", "english"), ("sw", "swahili")):
        train = data_lib.load_examples(task, language=language, role="train", data_dir=tmp_path)
        dev = data_lib.load_examples(task, language=language, role="dev", data_dir=tmp_path)
        assert [e.id for e in train] == [f"{code}-{i}" for i in range(18)]
        assert [e.id for e in dev] == [f"{code}-18", f"{code}-19"]
    with pytest.raises(DataError, match="no test data for task `tydiqa` in `en`"):
        data_lib.load_examples(task, language="en", role="test", data_dir=tmp_path)


def _xnli_mirror(tmp_path: Path) -> Path:
    """XNLI (facebook/xnli schema) in de and fr, made of toy NLI pairs: 30 training rows each."""
    rows = [json.loads(line) for line in (TOY / "toy_nli.en" / "train.jsonl").read_text().splitlines()]
    for offset, language in enumerate(("de", "fr")):
        folder = tmp_path / f"xnli.{language}"
        folder.mkdir()
        for split, part in (("train", rows[offset * 40 : offset * 40 + 30]), ("validation", rows[200:210])):
            records = [{"premise": r["sentence1"], "hypothesis": r["sentence2"], "label": r["label"]} for r in part]
            (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return tmp_path


def test_training_sets_of_several_languages_are_concatenated(tmp_path: Path) -> None:
    data_dir = _xnli_mirror(tmp_path)
    spec = TrialSpec(
        sweep="s",
        search="intermediate-xnli@de+fr",
        phase="intermediate",
        task="xnli",
        train_task="xnli",
        train_languages=("de", "fr"),
        eval_languages=("de", "fr"),
        eval_splits=("dev",),
        select_on="english_dev",
        data_dir=str(data_dir),
        epochs=1,
        seed=0,
        model=ModelSpec(tokenizer=str(TOY / "tokenizer.json")),
        training=TrainingSpec(feature_cache=None, max_train_examples=25),
    )
    tokenizer = load_tokenizer(spec.model)
    examples, features = _prepare(
        get_task("xnli"),
        spec=spec,
        kind="classification",
        tokenizer=tokenizer,
        data_dir=data_dir,
        languages=("de", "fr"),
        role="train",
        train=True,
        limit=25,
    )
    # The cap applies per language, so a capped smoke run still trains on both.
    assert len(examples) == len(features) == 50
    german = data_lib.load_examples(get_task("xnli"), language="de", role="train", data_dir=data_dir)
    french = data_lib.load_examples(get_task("xnli"), language="fr", role="train", data_dir=data_dir)
    assert [e.texts for e in examples] == [e.texts for e in german[:25] + french[:25]]


def test_old_trial_specs_still_load() -> None:
    spec = TrialSpec(
        sweep="s",
        search="x",
        phase="target",
        task="xnli",
        train_languages=("en",),
        eval_languages=("de",),
        eval_splits=("dev", "test"),
        select_on="english_dev",
        data_dir="/d",
        epochs=1,
        seed=0,
        model=ModelSpec(),
        training=TrainingSpec(),
    )
    old = spec.to_dict()
    del old["train_languages"], old["train_task"]
    old["train_language"] = "en"
    assert TrialSpec.from_dict(old) == spec
    assert TrialSpec.from_dict(spec.to_dict()) == spec
