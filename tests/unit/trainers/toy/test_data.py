"""The toy data generator: byte-identical to the committed data/toy, balanced, complete, tokenizable."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from trainers.toy import data as toydata
from trainers.toy import kinds as toykinds

TOY_DIR = Path(__file__).resolve().parents[4] / "data" / "toy"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("toy")
    return out, toydata.generate(out)


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _splits(written: list[Path]) -> list[Path]:
    return [p for p in written if p.suffix == ".jsonl"]


def _text(value: object) -> str:
    # Tagging tokens and multiple-choice endings are lists; the tokenizer reads them as words.
    return " ".join(value) if isinstance(value, list) else str(value)


def test_regenerating_gives_the_committed_files_byte_for_byte(generated: tuple[Path, list[Path]]) -> None:
    out, written = generated
    committed = sorted(p.relative_to(TOY_DIR) for p in TOY_DIR.rglob("*") if p.is_file())
    assert sorted(p.relative_to(out) for p in written) == committed
    for rel in committed:
        # On failure: the generator changed; rerun `python -m trainers.toy data/toy` and commit.
        assert (out / rel).read_bytes() == (TOY_DIR / rel).read_bytes(), f"{rel} differs from data/toy"


def test_every_split_has_balanced_label_names_and_the_task_fields(generated: tuple[Path, list[Path]]) -> None:
    _, written = generated
    for path in _splits(written):
        task = path.parent.name.split(".")[0]
        if task in toykinds.TASKS:  # other schemas; see test_kinds.py
            assert len(_records(path)) == toydata.SPLIT_SIZES[task][path.stem]
            continue
        records = _records(path)
        for r in records:
            assert set(r) == {"id", "label", *toydata.TASK_FIELDS[task]}
        counts = Counter(r["label"] for r in records)
        assert set(counts) == set(toydata.TASK_LABELS[task]), path
        assert max(counts.values()) - min(counts.values()) <= 1, (path, counts)
        assert len(records) == toydata.SPLIT_SIZES[task][path.stem]


def test_targets_have_english_train_and_every_language_for_evaluation(generated: tuple[Path, list[Path]]) -> None:
    out, _ = generated
    for task in toydata.TARGET_TASKS:
        assert (out / f"{task}.en" / "train.jsonl").is_file()
        ids = None
        for lang in toydata.LANGUAGES:
            for split in ("validation", "test"):
                assert (out / f"{task}.{lang}" / f"{split}.jsonl").is_file(), (task, lang, split)
            # PAN-X records have no id: parallel rows have the same entity tags (see test_kinds.py).
            lang_ids = [r.get("id", r.get("ind")) for r in _records(out / f"{task}.{lang}" / "test.jsonl")]
            assert ids is None or lang_ids == ids, "test sets must be parallel across languages"
            ids = lang_ids
    for task in toydata.INTERMEDIATE_TASKS:
        assert sorted(p.name for p in out.glob(f"{task}.*")) == [f"{task}.en"]


def test_tokenizer_encodes_pairs_xlmr_style_without_unknown_words(generated: tuple[Path, list[Path]]) -> None:
    from transformers import PreTrainedTokenizerFast

    out, written = generated
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(out / "tokenizer.json"),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        mask_token="<mask>",
    )
    assert [tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id] == [0, 1, 2, 3]
    assert tok.mask_token_id == len(tok) - 1
    enc = tok("Anna hat 7 ziegen", "mbuzi 7 ni mali ya anna")
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == [
        "<s>",
        "anna",
        "hat",
        "7",
        "ziegen",
        "</s>",
        "</s>",
        "mbuzi",
        "7",
        "ni",
        "mali",
        "ya",
        "anna",
        "</s>",
    ]
    for path in _splits(written):
        task = path.parent.name.split(".")[0]
        columns = [[_text(r[f]) for r in _records(path)] for f in toydata.TASK_FIELDS[task]]
        for ids in tok(*columns)["input_ids"]:
            assert tok.unk_token_id not in ids, path


def test_the_registry_and_the_generator_agree() -> None:
    """The registry lists the toy tasks as data; the generator writes them. Their labels, languages and
    splits must be the same."""
    from trainers.tasks import get_task
    from trainers.tasks.toy import TOY_LANGUAGES, TOY_TASKS
    from trainers.toy.words import HAVE_QUESTIONS, HAVE_TEMPLATES, THINGS, TOPIC_WORDS

    assert {t.name for t in TOY_TASKS} == set(toydata.INTERMEDIATE_TASKS) | set(toydata.TARGET_TASKS)
    assert get_task("toy_topic").labels == tuple(TOPIC_WORDS)
    assert set(THINGS) == set(HAVE_TEMPLATES) == set(HAVE_QUESTIONS) == set(TOY_LANGUAGES)
    for task in TOY_TASKS:
        assert set(task.source.splits.values()) == set(toydata.SPLIT_SIZES[task.name]), task.name


def test_the_registry_does_not_import_the_generator() -> None:
    import subprocess
    import sys

    code = "import sys, trainers.tasks; print(sorted(m for m in sys.modules if m.startswith('trainers.toy')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
