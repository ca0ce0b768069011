"""Narrowing a study on the command line: per-target sections that name a registered task the overridden
`target_tasks` leave out are unused, and said so; a name that is no task stays an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.cli import main

ROOT = Path(__file__).resolve().parents[3]


def test_the_xstilts_study_narrowed_to_one_target_validates_and_notes_what_it_leaves_unused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["validate", str(ROOT / "configs" / "studies" / "xstilts.yaml"), "target_tasks=[xnli]", "--skip-files"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "->xnli" in out.out and "->pawsx" not in out.out
    assert (
        "note: per_target sets pawsx, udpos, panx, xquad, mlqa, tydiqa, bucc2018, tatoeba, which target_tasks "
        "(xnli) leaves out: unused" in out.out
    )


def test_regimes_of_a_registered_task_left_out_are_unused_but_a_misspelt_one_is_an_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    quickstart = str(ROOT / "configs" / "quickstart.yaml")
    code = main(["validate", quickstart, "target_tasks=[toy_order]", "regimes={toy_paws: [zero_shot]}", "--skip-files"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "note: regimes sets toy_paws, which target_tasks (toy_order) leaves out: unused" in out.out

    code = main(["validate", quickstart, "regimes={toy_pawz: [zero_shot]}", "--skip-files"])
    assert code == 2
    assert (
        "regimes.toy_pawz: `toy_pawz` is neither one of target_tasks (toy_paws, toy_order) nor a registered task, "
        "and regimes are set per target; did you mean `toy_paws`?" in capsys.readouterr().err
    )
