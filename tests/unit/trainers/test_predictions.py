"""Prediction files: written in the layout XTREME's evaluate.py reads, and read back checked against gold."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainers.errors import PredictionsError
from trainers.examples import ChoiceExample, TagExample, TextExample
from trainers.predictions import file_name, read, render, write
from trainers.scoring import score
from trainers.tasks import get_task

XCOPA = get_task("xcopa")
GOLD = [ChoiceExample(id=f"q{i}", context="c", choices=("a", "b"), label=i % 2) for i in range(3)]


def test_each_task_is_named_as_evaluate_py_names_it() -> None:
    names = {t: file_name(get_task(t), "de") for t in ("xnli", "xcopa", "xquad", "udpos", "tatoeba", "bucc2018")}
    assert names == {
        "xnli": "test-de.tsv",
        "xcopa": "test-de.jsonl",  # XTREME-R's multi_choice group
        "xquad": "test-de.json",
        "udpos": "test-de.tsv",
        "tatoeba": "test-de.tsv",
        "bucc2018": "test-de.tsv",
    }
    assert file_name(get_task("mewslix"), "de") == "test-de.json"


def test_multiple_choice_is_one_json_label_per_line_and_reads_back(tmp_path: Path) -> None:
    path = write(tmp_path, XCOPA, "et", GOLD, [1, 0, 0])
    assert path.name == "test-et.jsonl"
    assert path.read_text() == '{"label": 1}\n{"label": 0}\n{"label": 0}\n'
    assert read(XCOPA, path, GOLD) == [1, 0, 0]


def test_multiple_choice_files_of_the_earlier_layout_still_read(tmp_path: Path) -> None:
    old = tmp_path / "test-et.tsv"
    old.write_text("1\n0\n1\n")
    assert read(XCOPA, old, GOLD) == [1, 0, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"label": 1}\n{"label": 0}\n', "has 2 lines but the gold data has 3 examples"),
        ('{"label": 1}\n{"label": 2}\n{"label": 0}\n', 'line 2: \'{"label": 2}\' is not {"label": <index>}'),
        ('{"label": 1}\n1\n{"label": 0}\n', "line 2: '1' is not {\"label\": <index>}"),
        ('{"label": 1}\n{"lab\n{"label": 0}\n', "line 2 is not JSON"),
        ('{"label": 1}\n{"label": true}\n{"label": 0}\n', "line 2"),
    ],
)
def test_bad_multiple_choice_lines_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "test-et.jsonl"
    path.write_text(text)
    with pytest.raises(PredictionsError, match=message.replace("{", r"\{").replace("}", r"\}")):
        read(XCOPA, path, GOLD)


def test_classification_refuses_unknown_labels_and_tagging_scores_them_wrong(tmp_path: Path) -> None:
    xnli = get_task("xnli")
    gold = [TextExample(id="a", texts=("p", "h"), label=0), TextExample(id="b", texts=("p", "h"), label=2)]
    path = tmp_path / "test-de.tsv"
    path.write_text(render(xnli, gold, [2, 1]))
    assert path.read_text() == "contradiction\nneutral\n"
    assert read(xnli, path, gold) == [2, 1]
    path.write_text("contradiction\nmaybe\n")
    with pytest.raises(PredictionsError, match="line 2: 'maybe' is not a label of xnli"):
        read(xnli, path, gold)

    pos = get_task("udpos")
    sentences = [TagExample(id="s", tokens=("Le", "chat"), tags=(5, 7))]
    path.write_text(render(pos, sentences, [[5, 7]]))
    assert path.read_text() == "DET\nNOUN\n" and read(pos, path, sentences) == [["DET", "NOUN"]]
    path.write_text("DET\n")
    with pytest.raises(PredictionsError, match="sentence 1 has 1 tags for 2 words"):
        read(pos, path, sentences)
    # A tag outside the set counts as wrong, as evaluate.py scores it, rather than refusing the file.
    path.write_text("DET\nNOUNS\n")
    assert score(pos, sentences, read(pos, path, sentences), language="fr")["f1"] == 0.5
