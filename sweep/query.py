"""Reading the results table: filters, a metric, and the intermediate x target transfer matrix.

Python API: ``rows(sweep_dir, where=["language=de"])`` and ``transfer_matrix(sweep_dir)``
return lists of dicts; the CLI formats them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sweep.errors import XStiltsError, suggest
from sweep.plan import SEEDS_SUFFIX
from sweep.results import ResultsStore
from sweep.select import best_trial, test_summary


class QueryError(XStiltsError):
    """A query names an unknown column or has a malformed filter."""


_WHERE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|!=|=|<|>)\s*(.*?)\s*$")
DEFAULT_COLUMNS = ("pair", "trial_id", "attempt", "status", "phase", "step", "split", "language", "metric", "value")


def load(sweep_dir: str | Path) -> pa.Table:
    """The results table of a sweep directory, or of a sweep on shared storage (a URI)."""
    from sweep.layout import open_sweep

    return ResultsStore.read(open_sweep(sweep_dir).results)


def apply_where(table: pa.Table, where: Sequence[str]) -> pa.Table:
    """Keep rows matching every ``column OP value`` filter (OP: = != < <= > >=; ``a|b`` for any of)."""
    for clause in where:
        match = _WHERE.match(clause)
        if not match:
            raise QueryError(
                f"filter `{clause}` is not `column OP value` with OP one of = != < <= > >= "
                "(e.g. --where language=de --where hp_learning_rate<1e-3)"
            )
        column, op, text = match.groups()
        if column not in table.column_names:
            raise QueryError(
                f"unknown column `{column}` in filter `{clause}`{suggest(column, table.column_names)}; "
                f"columns: {', '.join(table.column_names)}"
            )
        values = [_typed(v, table.schema.field(column).type, clause) for v in text.split("|")]
        col = table[column]
        if op == "=":
            mask = pc.is_in(col, value_set=pa.array(values, type=col.type))
        elif op == "!=":
            mask = pc.invert(pc.is_in(col, value_set=pa.array(values, type=col.type)))
        else:
            fn = {"<": pc.less, "<=": pc.less_equal, ">": pc.greater, ">=": pc.greater_equal}[op]
            mask = fn(col, pa.scalar(values[0], type=col.type))
        table = table.filter(pc.fill_null(mask, False))
    return table


def rows(
    sweep_dir: str | Path, *, where: Sequence[str] = (), metric: str | None = None, columns: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Filtered result rows, e.g. ``rows(d, where=["split=test"], metric="accuracy")``."""
    table = apply_where(load(sweep_dir), [*where, *([f"metric={metric}"] if metric else [])])
    wanted = list(columns or DEFAULT_COLUMNS)
    unknown = [c for c in wanted if c not in table.column_names]
    if unknown:
        raise QueryError(
            f"unknown column `{unknown[0]}`{suggest(unknown[0], table.column_names)}; columns: "
            f"{', '.join(table.column_names)}"
        )
    return table.select(wanted).to_pylist()


def mixture_rows(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """One row per source of each mixture the sweep trains: its composition as the manifest records it,
    with the sampling rate and training size its trials reported (the same for every trial of a search)."""
    from sweep.layout import open_sweep, read_manifest

    sweep = open_sweep(sweep_dir)
    mixtures = read_manifest(sweep).get("mixtures", {})
    table = ResultsStore.read(sweep.results, columns=["intermediate", "phase", "task", "language", "metric", "value"])
    table = table.filter(
        pc.and_(
            pc.equal(table["phase"], "intermediate"),
            pc.is_in(table["metric"], pa.array(["sampling_rate", "train_size"])),
        )
    )
    reported = {(r["intermediate"], r["task"], r["language"], r["metric"]): r["value"] for r in table.to_pylist()}
    out = []
    for name, mixture in mixtures.items():
        for source in mixture["sources"]:
            languages = "+".join(source["languages"])
            out.append(
                {
                    "mixture": name,
                    "task": source["task"],
                    "languages": languages,
                    "trains_on": source["train_task"],
                    "head": source["head"],
                    "weight": source["weight"],
                    "cap": source["cap"],
                    "sampling": mixture["sampling"]
                    + (f" T={mixture['temperature']:g}" if mixture["sampling"] == "temperature" else ""),
                    "select": mixture["select"],
                    "train_size": reported.get((name, source["task"], languages, "train_size")),
                    "sampling_rate": reported.get((name, source["task"], languages, "sampling_rate")),
                }
            )
    return out


def transfer_matrix(
    sweep_dir: str | Path, *, where: Sequence[str] = (), metric: str | None = None, language: str | None = None
) -> list[dict[str, Any]]:
    """One row per intermediate task, one column per target: the best trial's test score.

    The best trial of each pair is chosen on the dev objective; its test score at that step is
    averaged over the evaluation languages (or taken for ``language``). Each cell also gets the
    difference to the target's baseline pair (intermediate ``none``).
    """
    table = apply_where(load(sweep_dir), [*where, "phase=target"])
    # A per-language regime's pair is one search per language: its cell gathers each search's language.
    # Seeds searches (re-runs of a pair's best configuration) are left to the statistics, not the matrix.
    per_language: dict[tuple[str, str, str], dict[str, float]] = {}
    searches = sorted(set(table["search"].to_pylist()))
    for search in searches:
        if search.endswith(SEEDS_SUFFIX):
            continue
        best = best_trial(table, search=search)
        if best is None:
            continue
        sub = table.filter(pc.equal(table["search"], search))
        model, inter, target, regime = (sub[c][0].as_py() for c in ("model", "intermediate", "target", "regime"))
        if regime not in (None, "zero_shot"):
            target = f"{target}[{regime}]"
        summary = test_summary(table, best=best, metric=metric)
        if summary:
            per_language.setdefault((model, inter, target), {}).update(summary["languages"])
    scores: dict[tuple[str, str, str], float] = {}
    for key, values in per_language.items():
        if language is None:
            scores[key] = sum(values.values()) / len(values)
        elif language in values:
            scores[key] = values[language]
    targets = sorted({t for _, _, t in scores}, key=lambda t: (t.split("[")[0], "[" in t, t))
    rows = sorted({(m, i) for m, i, _ in scores}, key=lambda mi: (mi[0], mi[1] != "none", mi[1]))
    several = len({m for m, _ in rows}) > 1  # a study of several models: a row per model and intermediate
    out = []
    for model, inter in rows:
        row: dict[str, Any] = {"model": model, "intermediate": inter} if several else {"intermediate": inter}
        for target in targets:
            value = scores.get((model, inter, target))
            base = scores.get((model, "none", target))
            row[target] = value
            row[f"{target} vs none"] = None if value is None or base is None or inter == "none" else value - base
        out.append(row)
    return out


def _typed(text: str, kind: pa.DataType, clause: str) -> Any:
    try:
        if pa.types.is_integer(kind):
            return int(text)
        if pa.types.is_floating(kind):
            return float(text)
        if pa.types.is_timestamp(kind):
            import datetime as dt

            return dt.datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(f"`{text}` in filter `{clause}` is not a valid {kind} value") from None
    return text
