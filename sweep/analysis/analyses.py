"""The analyses a study is run for, over ``sweep.analysis.tables.Results``: each pair's score by the protocol, its gain
over the baseline, per language group, and the XTREME / XTREME-R benchmark scores.

The protocol: each search's best trial and step are chosen on the dev objective (the ``selected`` view), and
the test scores at that step are the pair's. A pair re-run with seeds (``seeds:``) is represented by its seed
runs, not by the search that chose its configuration: that search's score is the maximum of several trials
and would bias the mean upwards. A score over languages is the unweighted mean over them, per run, then over
the runs.

Example::

    from sweep.analysis.tables import Results
    from sweep.analysis.analyses import pair_scores
    pair_scores(Results(["sweeps/quickstart"]), by="family")
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from sweep.analysis import benchmark, stats
from sweep.analysis.catalog import BASELINE
from sweep.analysis.sweeps import QueryError
from sweep.analysis.tables import Results
from sweep.errors import suggest

GROUPINGS = ("language", "family", "genus", "script")
_WHERE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|!=|=|<|>)\s*(.*?)\s*$")
_KEY = ("sweep", "model", "intermediate", "target", "regime")


def where_sql(results: Results, clauses: Sequence[str], *, view: str) -> tuple[str, list[Any]]:
    """``column OP value`` filters (OP: = != < <= > >=; ``a|b`` for any of) as a SQL condition with parameters.

    An unknown column is named with the view's columns; an unknown sweep with the sweeps there are."""
    columns = results.columns(view)
    conditions, params = [], []
    for clause in clauses:
        match = _WHERE.match(clause)
        if not match:
            raise QueryError(
                f"filter `{clause}` is not `column OP value` with OP one of = != < <= > >= "
                "(e.g. --where language=de --where hp_learning_rate<1e-3)"
            )
        column, op, text = match.groups()
        if column not in columns:
            raise QueryError(
                f"unknown column `{column}` in filter `{clause}`{suggest(column, columns)}; "
                f"columns of {view}: {', '.join(columns)}"
            )
        values = text.split("|")
        if column == "sweep" and op in ("=", "!="):
            if unknown := [v for v in values if v not in results.names]:
                raise QueryError(
                    f"unknown sweep `{unknown[0]}` in filter `{clause}`{suggest(unknown[0], results.names)}; "
                    f"the sweeps queried are {', '.join(results.names)}"
                )
        kind = results.column_type(view, column)
        typed = [_typed(v, kind, clause) for v in values]
        if op in ("=", "!="):
            marks = ", ".join("?" for _ in typed)
            conditions.append(f'"{column}" {"NOT " if op == "!=" else ""}IN ({marks})')
            params.extend(typed)
        else:
            conditions.append(f'"{column}" {op} ?')
            params.append(typed[0])
    return (" AND ".join(conditions) or "TRUE"), params


def _typed(text: str, kind: str, clause: str) -> Any:
    try:
        if kind in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT"):
            return int(text)
        if kind in ("DOUBLE", "FLOAT", "DECIMAL"):
            return float(text)
        if kind == "BOOLEAN":
            return {"true": True, "false": False}[text.lower()]
    except (ValueError, KeyError):
        raise QueryError(f"`{text}` in filter `{clause}` is not a valid {kind.lower()} value") from None
    return text


def scores(results: Results, *, where: Sequence[str] = (), metric: str | None = None) -> pa.Table:
    """The protocol's test scores (the ``scores`` view): one row per run (a pair's selected trial, or each of
    its seed runs) and language, in each target's headline metric; with ``metric``, in that metric."""
    order = "ORDER BY sweep, model, intermediate, target, regime, seed, language"
    if metric is None:
        condition, params = where_sql(results, where, view="scores")
        return results.sql(f"SELECT * FROM scores WHERE {condition} {order}", params)
    condition, params = where_sql(results, where, view="best")
    return results.sql(
        f"""
        WITH b AS (SELECT * FROM best WHERE {condition} AND metric = ?),
        seeded AS (SELECT DISTINCT sweep, model, intermediate, target, regime FROM b WHERE seeds_run)
        SELECT b.* FROM b
        LEFT JOIN seeded s ON s.sweep = b.sweep AND s.model IS NOT DISTINCT FROM b.model
            AND s.intermediate = b.intermediate AND s.target = b.target AND s.regime IS NOT DISTINCT FROM b.regime
        WHERE b.seeds_run = (s.sweep IS NOT NULL)
        {order}
        """,
        [*params, metric],
    )


def pair_scores(
    results: Results,
    *,
    by: str | None = None,
    where: Sequence[str] = (),
    metric: str | None = None,
    language: str | None = None,
) -> list[dict[str, Any]]:
    """One row per pair (and language group, with ``by``): its score (the mean over its runs of each run's
    mean over the group's languages), the number of runs, and its gain over the baseline pair of the same
    model, target and regime (in the same sweep where it has one)."""
    pairs, metrics = _pair_runs(results, by=by, where=where, metric=metric, language=language)
    out = []
    for key, runs in pairs.items():
        sweep, model, intermediate, target, regime, group = key
        values = list(runs.values())
        base = _baseline(pairs, key)
        mean = sum(values) / len(values)
        row = {
            **_head(key, by=by, metric=metrics[key], runs=len(values)),
            "score": mean,
            "baseline": None if base is None else sum(base.values()) / len(base),
        }
        row["gain"] = None if base is None or intermediate == BASELINE else mean - row["baseline"]
        out.append(row)
    return sorted(out, key=_order)


def _pair_runs(
    results: Results, *, by: str | None, where: Sequence[str], metric: str | None, language: str | None
) -> tuple[dict[tuple, dict[int, float]], dict[tuple, str]]:
    """Each pair's (and group's) runs: ``{key: {(seed, trial or None): mean over the group's languages}}``, and
    its metric."""
    if by is not None and by not in GROUPINGS:
        raise QueryError(f"unknown grouping `{by}`{suggest(by, GROUPINGS)}; group by one of {', '.join(GROUPINGS)}")
    table = scores(results, where=[*where, *([f"language={language}"] if language else [])], metric=metric)
    rows = table.to_pylist()
    searches: dict[tuple, set[str]] = defaultdict(set)
    for row in rows:
        searches[tuple(row[c] for c in _KEY)].add(row["search"])
    runs: dict[tuple, dict[Any, list[float]]] = defaultdict(lambda: defaultdict(list))
    metrics: dict[tuple, str] = {}
    for row in rows:
        pair = tuple(row[c] for c in _KEY)
        key = (*pair, row[by] if by else None)
        # A run is a seed's training; a pair of one search tells its runs apart by trial (a seed is reused
        # only when the runner has no other), a per-language pair (a search per language) by seed.
        run = (row["seed"], row["trial_id"] if len(searches[pair]) == 1 else None)
        runs[key][run].append(row["value"])
        metrics[key] = row["metric"]
    return {key: {run: sum(v) / len(v) for run, v in by_run.items()} for key, by_run in runs.items()}, metrics


def pair_stats(
    results: Results,
    *,
    by: str | None = None,
    where: Sequence[str] = (),
    metric: str | None = None,
    language: str | None = None,
    replicates: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per pair (and group): its runs' mean, standard deviation and t-interval, every seed's score,
    and its gain over the baseline with Welch's t-interval (``sweep.analysis.stats`` says why these); a pair and
    baseline run once get the paired bootstrap interval over test examples instead (``sweep.analysis.bootstrap``;
    ``replicates=0`` skips it)."""
    pairs, metrics = _pair_runs(results, by=by, where=where, metric=metric, language=language)
    resampled = {}
    if replicates and by is None and metric is None:  # the bootstrap resamples the headline metric's examples
        from sweep.analysis.bootstrap import pair_intervals

        where_all = [*where, *([f"language={language}"] if language else [])]
        resampled = pair_intervals(results, scores(results, where=where_all), replicates=replicates, seed=seed)
    out = []
    for key, runs in pairs.items():
        sweep, model, intermediate, target, regime, group = key
        values = list(runs.values())
        mean, sd = stats.mean_sd(values)
        interval = stats.t_interval(values)
        base = _baseline(pairs, key)
        is_base = intermediate == BASELINE
        gain = None if base is None or is_base else mean - sum(base.values()) / len(base)
        gain_interval = None if base is None or is_base else stats.welch_interval(values, list(base.values()))
        method = _method(len(values), None if base is None or is_base else len(base))
        boot = resampled.get(key[:5])
        if boot and "error" in boot:
            method += f"; no bootstrap: {boot['error']}"
        elif boot:
            gain, gain_interval = boot["gain"], (boot["low"], boot["high"])  # over the languages both scored
            method = (
                f"one run: gain by paired bootstrap over {boot['examples']} test examples "
                f"({boot['replicates']} resamples)"
            )
        out.append(
            {
                **_head(key, by=by, metric=metrics[key], runs=len(values)),
                "mean": mean,
                "sd": sd,
                "ci_low": interval[0] if interval else None,
                "ci_high": interval[1] if interval else None,
                "per_seed": " ".join(f"{seed}:{value:.4f}" for (seed, _), value in sorted(runs.items(), key=str)),
                "gain": gain,
                "gain_low": gain_interval[0] if gain_interval else None,
                "gain_high": gain_interval[1] if gain_interval else None,
                "method": method,
            }
        )
    return sorted(out, key=_order)


def _head(key: tuple, *, by: str | None, metric: str, runs: int) -> dict[str, Any]:
    """The columns every per-pair row starts with: the pair, its group (with ``by``), metric and run count."""
    sweep, model, intermediate, target, regime, group = key
    return {
        "sweep": sweep,
        "model": model,
        "intermediate": intermediate,
        "target": target,
        "regime": regime,
        **({by: group} if by else {}),
        "metric": metric,
        "runs": runs,
    }


def _method(runs: int, base_runs: int | None) -> str:
    if runs < 2:
        return "one run: no interval (give the study seeds:)"
    text = f"t-interval, {runs} seeds"
    if base_runs is not None:
        text += "; gain: Welch t-interval" if base_runs >= 2 else "; gain: baseline has one run, no interval"
    return text


def search_progress(results: Results, *, where: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Per search (not seed runs or evaluations), its trials in the order they started: each trial's best dev
    objective, the best so far, the trial-seconds spent so far, and the expected best of that many trials
    (Dodge et al. 2019) with its standard deviation."""
    condition, params = where_sql(results, where, view="trials")
    table = results.sql(
        f"""SELECT sweep, search, any_value(pair) AS pair, any_value(model) AS model, trial_id,
                   max(best_objective) AS objective,
                   sum(wall_s) AS trial_s, min(started_at) AS started_at
            FROM trials WHERE {condition} AND NOT ends_with(search, '.seeds')
            GROUP BY sweep, search, trial_id HAVING max(best_objective) IS NOT NULL
            ORDER BY sweep, search, started_at, trial_id""",
        params,
    )
    by_search: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in table.to_pylist():
        by_search[(row["sweep"], row["search"])].append(row)
    out = []
    for (sweep, search), trials in by_search.items():
        curve = stats.expected_max([t["objective"] for t in trials])
        best, spent = -math.inf, 0.0
        for index, (trial, (expected, spread)) in enumerate(zip(trials, curve, strict=True), start=1):
            best = max(best, trial["objective"])
            spent += trial["trial_s"] or 0.0
            out.append(
                {
                    "sweep": sweep,
                    "search": search,
                    "pair": trial["pair"],
                    "model": trial["model"],
                    "trials": index,
                    "trial_id": trial["trial_id"],
                    "objective": trial["objective"],
                    "best_so_far": best,
                    "trial_s": spent,
                    "expected_best": expected,
                    "expected_best_sd": spread,
                }
            )
    return out


def _baseline(pairs: dict[tuple, dict[Any, float]], key: tuple) -> dict[Any, float] | None:
    """The baseline's run scores for ``key``: from the same sweep, else from the one other sweep that has it."""
    sweep, model, _, target, regime, group = key
    own = pairs.get((sweep, model, BASELINE, target, regime, group))
    if own is not None:
        return own
    others = [v for k, v in pairs.items() if k[1:] == (model, BASELINE, target, regime, group) and k[0] != sweep]
    return others[0] if len(others) == 1 else None


def _order(row: dict[str, Any]) -> tuple:
    return (
        row["sweep"],
        row["model"] or "",
        row["intermediate"] != BASELINE,
        row["intermediate"],
        row["target"],
        row["regime"] or "",
        str(row.get("language") or row.get("family") or row.get("genus") or row.get("script") or ""),
    )


def target_label(target: str, regime: str | None) -> str:
    """A target's column in the matrix: ``xnli``, or ``xnli[translate_train]`` for a regime other than
    zero-shot."""
    return target if regime in (None, "zero_shot") else f"{target}[{regime}]"


def matrix(
    results: Results, *, where: Sequence[str] = (), metric: str | None = None, language: str | None = None
) -> list[dict[str, Any]]:
    """One row per intermediate entry (per model and sweep, when there are several), one column per target:
    its score and ``<target> vs none``, the gain over the baseline."""
    pairs = pair_scores(results, where=where, metric=metric, language=language)
    sweeps = len({p["sweep"] for p in pairs}) > 1
    models = len({p["model"] for p in pairs}) > 1
    targets = sorted({target_label(p["target"], p["regime"]) for p in pairs}, key=lambda t: (t.split("[")[0], t))
    rows: dict[tuple, dict[str, Any]] = {}
    for p in pairs:
        head = {
            **({"sweep": p["sweep"]} if sweeps else {}),
            **({"model": p["model"]} if models else {}),
            "intermediate": p["intermediate"],
        }
        row = rows.setdefault(tuple(head.values()), {**head, **{k: None for t in targets for k in (t, f"{t} vs none")}})
        label = target_label(p["target"], p["regime"])
        row[label] = p["score"]
        row[f"{label} vs none"] = p["gain"]
    return list(rows.values())


def benchmark_table(results: Results, *, version: str, where: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One row per system (sweep, model, intermediate entry, regime): each task's, each group's and the overall
    benchmark score as ``evaluate.py`` computes them (``sweep.analysis.benchmark``), and what is missing for the
    rest."""
    benchmark.check_version(version)
    per_system: dict[tuple, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(dict))
    by_run: dict[tuple, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    rows = scores(results, where=where).to_pylist()
    if rows and not {r["target"] for r in rows} & set(benchmark.LANGUAGES[version]):
        from sweep.errors import XStiltsError

        raise XStiltsError(
            f"none of the targets ({', '.join(sorted({r['target'] for r in rows}))}) is a task of {version}; "
            f"its tasks are {', '.join(benchmark.LANGUAGES[version])}"
        )
    for row in rows:
        system = (row["sweep"], row["model"], row["intermediate"], row["regime"] or "zero_shot")
        by_run[system][row["target"]][row["language"]].append(row["value"])  # one value per run
    for system, tasks in by_run.items():
        for task, languages in tasks.items():
            per_system[system][task] = {lang: sum(v) / len(v) for lang, v in languages.items()}
    out = []
    for (sweep, model, intermediate, regime), per_task in sorted(per_system.items(), key=lambda kv: _sys_order(kv[0])):
        result = benchmark.benchmark_scores(per_task, version=version)
        out.append(
            {
                "sweep": sweep,
                "model": model,
                "intermediate": intermediate,
                "regime": regime,
                **result["tasks"],
                **{f"group:{g}": s for g, s in result["groups"].items()},
                "overall": result["overall"],
                "missing": _missing(result["missing"], per_task),
            }
        )
    return out


def _sys_order(system: tuple) -> tuple:
    sweep, model, intermediate, regime = system
    return (sweep, model or "", intermediate != BASELINE, intermediate, regime)


def _missing(missing: dict[str, list[str]], present: dict[str, Any]) -> str:
    parts = []
    for task, languages in missing.items():
        parts.append(task if task not in present else f"{task}: {' '.join(languages)}")
    return "; ".join(parts) or "-"
