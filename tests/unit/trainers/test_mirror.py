"""`sweep data mirror` writes the hub's data in the mirror layout that loading reads back.

The hub is replaced by an in-memory ``datasets.Dataset`` with the real dataset's features, so
the class-label handling is the hub's own; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from sweep.cli import main
from trainers.data import load_examples
from trainers.tasks import get_task

XNLI_FEATURES = datasets.Features(
    {
        "premise": datasets.Value("string"),
        "hypothesis": datasets.Value("string"),
        "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"]),
    }
)


def fake_hub(calls: list) -> object:
    def load_dataset(path: str, name: str | None = None, split: str | None = None) -> datasets.Dataset:
        calls.append((path, name, split))
        rows = {"premise": [f"{name} p{i}" for i in range(3)], "hypothesis": ["h"] * 3, "label": [0, 2, 1]}
        return datasets.Dataset.from_dict(rows, features=XNLI_FEATURES)

    return load_dataset


def test_mirror_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    calls: list = []
    monkeypatch.setattr(datasets, "load_dataset", fake_hub(calls))
    assert main(["data", "mirror", "xnli", "--out", str(tmp_path), "--languages", "de,sw"]) == 0
    assert ("facebook/xnli", "de", "test") in calls and ("facebook/xnli", "sw", "train") in calls
    assert sorted(p.name for p in (tmp_path / "xnli.de").iterdir()) == ["test.jsonl", "train.jsonl", "validation.jsonl"]
    assert '"label": "contradiction"' in (tmp_path / "xnli.de" / "test.jsonl").read_text()
    examples = load_examples(get_task("xnli"), language="de", role="test", data_dir=tmp_path)
    assert [(e.texts[0], e.label) for e in examples] == [("de p0", 0), ("de p1", 2), ("de p2", 1)]
    assert "wrote" in capsys.readouterr().out


def test_mirror_needs_out_and_a_known_language(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "mirror", "xnli"]) == 2
    assert "needs --out" in capsys.readouterr().err
    from trainers.data import write_mirror
    from trainers.errors import TaskError

    with pytest.raises(TaskError, match="no data in `qu`"):
        write_mirror(get_task("xnli"), out=tmp_path, languages=["qu"])
