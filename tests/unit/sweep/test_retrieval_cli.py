"""`sweep score`, `sweep tasks` and `sweep validate` for the retrieval tasks read from release files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweep.cli import main
from tests.unit.trainers.retrieval import fixtures as fx
from trainers.tasks import get_task

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """The three tasks' fixtures (LAReQA in all 11 languages) beside the toy intermediate task."""
    fx.write_bucc(tmp_path)
    fx.write_lareqa(tmp_path, get_task("lareqa").languages)
    fx.write_mewslix(tmp_path)
    for folder in (ROOT / "data" / "toy").glob("toy_nli.*"):
        (tmp_path / folder.name).symlink_to(folder)
    return tmp_path


def score(capsys: pytest.CaptureFixture[str], task: str, predictions: Path, data: Path) -> tuple[int, str]:
    args = ["score", task, "--language", "de", "--predictions", str(predictions), "--data-dir", str(data)]
    code = main([*args, "--format", "json"])
    captured = capsys.readouterr()
    return code, captured.out if code == 0 else captured.err


def test_score_bucc_pairs_file(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "test-de.tsv"
    path.write_text("de-000000101\ten-000000101\nde-000000102\ten-000000103\n\n", encoding="utf-8")
    code, out = score(capsys, "bucc2018", path, data)
    # One of two predicted pairs is gold, one of three gold pairs is found: P 1/2, R 1/3, F1 0.4.
    assert code == 0 and json.loads(out) == {"precision": 0.5, "recall": pytest.approx(1 / 3), "f1": pytest.approx(0.4)}
    path.write_text("en-000000101\tde-000000101\n", encoding="utf-8")  # columns swapped
    code, err = score(capsys, "bucc2018", path, data)
    assert code == 2 and "line 1: 'en-000000101\\tde-000000101' is not `<de id><TAB><en id>`" in err


def test_score_lareqa_rankings(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "test-de.json"
    # 11 relevant sentences per question (one per language), so AP@20 divides by 11; q3 is left out.
    path.write_text(json.dumps({"q1": ["de_1_0", "en_1_0"], "q2": ["de_1_0", "de_1_1"]}), encoding="utf-8")
    code, out = score(capsys, "lareqa", path, data)
    # Recall@k: q1 has an answer at 1, q2 at 2, q3 none.
    assert code == 0 and json.loads(out) == {
        "map_at_20": pytest.approx((2 / 11 + 0.5 / 11 + 0) / 3),
        "recall_at_1": pytest.approx(1 / 3),
        "recall_at_5": pytest.approx(2 / 3),
        "recall_at_10": pytest.approx(2 / 3),
    }
    path.write_text(json.dumps({"q1": ["de_1_0"], "q9": []}), encoding="utf-8")
    code, err = score(capsys, "lareqa", path, data)
    assert code == 2 and "ranks 1 queries that are not in this language's gold data (e.g. q9)" in err
    path.write_text(json.dumps({"q1": "de_1_0"}), encoding="utf-8")
    code, err = score(capsys, "lareqa", path, data)
    assert code == 2 and "the value of q1 is not a list of ids" in err


def test_score_mewslix_official_layout(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "test-de.json"
    # m3 is missing: it scores 0, as utils_mewslix.evaluate counts it. MRR (1 + 1/2 + 0) / 3.
    path.write_text(json.dumps({"m1": ["Q64", "Q90"], "m2": ["Q183", "Q1684"]}), encoding="utf-8")
    code, out = score(capsys, "mewslix", path, data)
    assert code == 0 and json.loads(out) == {
        "map_at_20": 0.5,
        "recall_at_1": pytest.approx(1 / 3),
        "recall_at_5": pytest.approx(2 / 3),
        "recall_at_10": pytest.approx(2 / 3),
    }
    path.write_text(json.dumps([["Q64"]]), encoding="utf-8")
    code, err = score(capsys, "mewslix", path, data)
    assert code == 2 and "holds a list; expected an object of query id -> ranked ids" in err


def test_tasks_list_and_show_the_retrieval_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "--format", "json"]) == 0
    rows = {r["task"]: r for r in json.loads(capsys.readouterr().out)}
    for name, metric, languages in (("bucc2018", "f1", 4), ("lareqa", "map_at_20", 11), ("mewslix", "map_at_20", 11)):
        assert rows[name]["kind"] == "retrieval" and rows[name]["metric"] == metric
        assert rows[name]["languages"] == languages and rows[name]["trains_on"] == "- (evaluated after phase one)"
    assert main(["tasks", "show", "mewslix", "--format", "json"]) == 0
    detail = json.loads(capsys.readouterr().out)
    assert [lang["code"] for lang in detail["languages"]] == "ar de en es fa ja pl ro ta tr uk".split()
    assert detail["sources"][0]["files"] == [
        "mewslix/wikinews_mentions-{split}.jsonl",
        "mewslix/candidate_set_entities.jsonl",
    ]
    assert main(["tasks", "show", "lareqa"]) == 0
    assert "lareqa/xquad-r/{lang}.json" in capsys.readouterr().out


def test_validate_accepts_retrieval_targets_and_names_missing_files(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = [f"data_dir={data}", "intermediate_tasks=[toy_nli]", "target_tasks=[bucc2018,lareqa,mewslix]"]
    assert main(["validate", QUICKSTART, *overrides, "languages=[de,en]"]) == 0
    assert "target       toy_nli->lareqa" in capsys.readouterr().out
    (data / "lareqa" / "xquad-r" / "th.json").unlink()  # the pool needs every language, even unscored ones
    (data / "mewslix" / "candidate_set_entities.jsonl").unlink()
    assert main(["validate", QUICKSTART, *overrides, "languages=[de,fr]"]) == 2
    err = capsys.readouterr().err
    assert "4 problem(s)" in err  # BUCC's dev and test in fr, LAReQA's th file, Mewsli-X's entities
    assert "no test data for task `lareqa` in `th`: expected " in err and "xquad-r/th.json" in err
    assert "no test data for task `mewslix` in `de`: expected " in err and "candidate_set_entities.jsonl" in err
    assert "no dev data for task `bucc2018` in `fr`" in err and "no test data for task `bucc2018` in `fr`" in err
