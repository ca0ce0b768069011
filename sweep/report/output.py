"""Printing lists of dicts as an aligned table, CSV, JSON, Markdown or Parquet."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweep.errors import XStiltsError

TEXT_FORMATS = ("table", "csv", "json", "markdown")  # printed; Parquet is written to a file
FORMATS = (*TEXT_FORMATS, "parquet")


def render(rows: Sequence[dict[str, Any]], *, fmt: str, out: str | None = None) -> str:
    """Return ``rows`` in ``fmt``; Parquet (binary) is written to ``out`` and a note is returned."""
    if fmt == "parquet":
        if not out:
            raise XStiltsError("--format parquet writes a file: add --out FILE.parquet")
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(list(rows)), out)
        return f"wrote {len(rows)} rows to {Path(out).resolve()}"
    text = {"table": _table, "csv": _csv, "json": _json, "markdown": _markdown}[fmt](rows)
    if out:
        Path(out).write_text(text)
        return f"wrote {len(rows)} rows to {Path(out).resolve()}"
    return text


def cell(value: Any) -> str:
    """One value as the tables print it: floats to 4 decimals, or in scientific notation where that would
    print a nonzero value as 0.0000 (an Adam epsilon of 1e-8)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.2e}" if value != 0 and abs(value) < 1e-4 else f"{value:.4f}"
    return str(value)


def _table(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)"
    headers = list(rows[0])
    cells = [[cell(r.get(h)) for h in headers] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    numeric = [all(isinstance(r.get(h), (int, float)) or r.get(h) is None for r in rows) for h in headers]

    def line(values: list[str]) -> str:
        padded = (v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(c) for c in cells)])


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue().rstrip("\n")


def _json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(rows), indent=2, default=str, ensure_ascii=False)


def _markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned), to paste into a paper's notes or a README."""
    if not rows:
        return "(no rows)"
    headers = list(rows[0])
    numeric = [all(isinstance(r.get(h), (int, float)) or r.get(h) is None for r in rows) for h in headers]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    rule = "|" + "|".join("---:" if num else "---" for num in numeric) + "|"
    return "\n".join([line(headers), rule, *(line([cell(r.get(h)) for h in headers]) for r in rows)])
