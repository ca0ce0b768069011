"""The output formats of every query command."""

from __future__ import annotations

import pytest

from sweep.errors import XStiltsError
from sweep.report.output import render

ROWS = [
    {"pair": "mnli->xnli", "de": 0.71234, "trials": 4, "note": "a|b"},
    {"pair": "none->xnli", "de": None, "trials": 4, "note": "x"},
]


def test_markdown_is_a_pipe_table_with_numbers_right_aligned_and_pipes_escaped() -> None:
    assert render(ROWS, fmt="markdown") == (
        "| pair | de | trials | note |\n"
        "|---|---:|---:|---|\n"
        "| mnli->xnli | 0.7123 | 4 | a\\|b |\n"
        "| none->xnli | - | 4 | x |"
    )
    assert render([], fmt="markdown") == "(no rows)"


def test_table_csv_and_json() -> None:
    assert render(ROWS, fmt="table").splitlines()[2] == "mnli->xnli  0.7123       4  a|b"
    assert render(ROWS, fmt="csv").splitlines() == [
        "pair,de,trials,note",
        "mnli->xnli,0.71234,4,a|b",
        "none->xnli,,4,x",
    ]
    assert '"de": null' in render(ROWS, fmt="json")


def test_parquet_needs_a_file(tmp_path) -> None:
    with pytest.raises(XStiltsError, match="--out FILE.parquet"):
        render(ROWS, fmt="parquet")
    assert render(ROWS, fmt="parquet", out=str(tmp_path / "r.parquet")).startswith("wrote 2 rows to ")
