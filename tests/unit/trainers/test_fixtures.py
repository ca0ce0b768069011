"""Synthetic stand-ins for every task's data: each registered task's splits load through its own reader
and schema, in every role it has, with labels from its label set; and what exists is never overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainers.data import load_examples, resolve_labels
from trainers.fixtures import write_split
from trainers.tasks import TASKS


@pytest.mark.parametrize("name", sorted(n for n, t in TASKS.items() if not n.startswith("toy_")))
def test_every_task_loads_from_its_stand_in(name: str, tmp_path: Path) -> None:
    task = TASKS[name]
    language = task.languages[-1]
    roles = [role for role in ("train", "dev", "test") if role in task.source.splits]
    pool = task.languages if name == "lareqa" else (language,)  # LAReQA's candidates span all its languages
    for role in roles:
        for lang in pool:
            write_split(task, language=lang, role=role, data_dir=tmp_path, examples=20)
    task = resolve_labels(task, data_dir=tmp_path)
    for role in roles:
        examples = load_examples(task, language=language, role=role, data_dir=tmp_path)
        assert examples, (name, role)
        labels = [e.label for e in examples if hasattr(e, "label")]
        tags = [t for e in examples if hasattr(e, "tags") for t in e.tags]
        assert all(0 <= v < max(task.num_labels, 2) for v in [*labels, *tags]), (name, role)


def test_an_existing_split_is_kept(tmp_path: Path) -> None:
    task = TASKS["xnli"]
    (first,) = write_split(task, language="de", role="dev", data_dir=tmp_path)
    before = first.read_text()
    assert write_split(task, language="de", role="dev", data_dir=tmp_path, seed=1) == []
    assert first.read_text() == before


def test_a_stand_in_in_another_schema(tmp_path: Path) -> None:
    """XNLI's all-language `XNLI` config (google/xtreme's schema) gets its split in that schema."""
    task = TASKS["xnli"]
    (path,) = write_split(task, language="de", role="test", data_dir=tmp_path, source=task.sources[1])
    assert path.parent.name == "XNLI"
    examples = load_examples(task, language="de", role="test", data_dir=tmp_path)
    assert len(examples) == 48 and {e.label for e in examples} == {0, 1, 2}


def test_languages_sharing_one_file_each_get_their_records(tmp_path: Path) -> None:
    """TyDiQA-GoldP keeps every language in one file, told apart by the id's prefix."""
    task = TASKS["tydiqa"]
    for language in ("ar", "bn"):
        write_split(task, language=language, role="train", data_dir=tmp_path, examples=10)
    write_split(task, language="ar", role="dev", data_dir=tmp_path, examples=10)  # the same file: kept
    for language in ("ar", "bn"):
        train = load_examples(task, language=language, role="train", data_dir=tmp_path)
        dev = load_examples(task, language=language, role="dev", data_dir=tmp_path)
        assert (len(train), len(dev)) == (45, 5)  # 90% / 10% of 50


def test_a_linked_real_file_is_copied_before_stand_ins_are_added(tmp_path: Path) -> None:
    """A smoke run links real files into its data folder; a language they lack is added to a copy."""
    real = tmp_path / "real" / "tydiqa"
    real.mkdir(parents=True)
    original = (
        '{"id": "arabic-1", "context": "a b", "question": "q", "answers": {"text": ["a"], "answer_start": [0]}}\n'
    )
    (real / "train.jsonl").write_text(original)
    overlay = tmp_path / "overlay" / "tydiqa"
    overlay.mkdir(parents=True)
    (overlay / "train.jsonl").symlink_to(real / "train.jsonl")
    write_split(TASKS["tydiqa"], language="bn", role="train", data_dir=tmp_path / "overlay", examples=4)
    assert (real / "train.jsonl").read_text() == original  # the real file is untouched
    assert not (overlay / "train.jsonl").is_symlink()
    assert len(load_examples(TASKS["tydiqa"], language="bn", role="train", data_dir=tmp_path / "overlay")) == 18
