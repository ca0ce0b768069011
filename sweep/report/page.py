"""``sweep report``: a self-contained HTML report of one or more sweeps, with its figures as PNG and SVG.

The page inlines every figure (it opens offline, from anywhere) and links the SVG and PNG files beside it:
the gain heatmap, per-language scores by family for one target, search progress with the expected best of k
trials, and, where the study has them, scores against model, against a mixture's share of English, and
retrieval scores against layer; then the tables: the matrix, the statistics, the benchmark scores, and each
search's best configuration with its cost.

Example: ``write_report(["sweeps/quickstart"], out="report")`` writes ``report/index.html``.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweep.analysis import analyses, benchmark
from sweep.analysis.catalog import BASELINE
from sweep.analysis.tables import Results
from sweep.console import busy, progress
from sweep.errors import XStiltsError, suggest
from sweep.report import figures
from sweep.report.output import cell
from trainers.languages import LANGUAGES

INTERVALS = (
    "With seeds, the 95% interval of a pair's mean is Student's t-interval over its seed runs (exact for normal "
    "run-to-run variation; a bootstrap over 3-5 runs cannot reach past the values seen), and that of its gain "
    "Welch's t-interval (independent runs, unequal spreads). A pair and baseline run once get a paired bootstrap "
    "interval of the gain over their test examples (1,000 resamples, the same examples for both); the method "
    "column says which applies."
)


def write_report(
    locations: Sequence[str | Path],
    *,
    out: str | Path,
    target: str | None = None,
    title: str | None = None,
    skip_bad: bool = False,
) -> Path:
    """Write ``out/index.html`` and ``out/<figure>.{png,svg}``; return the page's path."""
    results = Results(locations, skip_bad=skip_bad)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with busy("statistics of every pair"):
        stats_rows = analyses.pair_stats(results)
    if not stats_rows:
        raise XStiltsError(
            f"{', '.join(results.names)}: no target pair has a selected trial with test scores yet; "
            "`sweep status` shows what has run"
        )
    entries = sorted({r["intermediate"] for r in stats_rows}, key=lambda e: (e != BASELINE, e))
    palette = figures.colours(entries)
    several = len({(r["sweep"], r["model"]) for r in stats_rows}) > 1
    parts = [  # each a list of sections, drawn one after the other under a progress bar
        lambda: [_matrix_section(results, stats_rows, out, several=several)],
        lambda: [_language_section(results, stats_rows, out, target=target, palette=palette)],
        lambda: [_progress_section(results, out)],
        lambda: _optional_sections(results, stats_rows, out, palette=palette),
        lambda: [_benchmark_section(results)],
        lambda: [_cost_section(results)],
    ]
    sections = [section for part in progress(parts, description="drawing the report's figures") for section in part()]
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(
        loader=PackageLoader("sweep.report", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    page = environment.get_template("report.html.j2").render(
        title=title or f"xstilts report: {', '.join(results.names)}",
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        sweeps=results.sql("SELECT * FROM sweeps").to_pylist(),
        skipped=results.skipped,
        interval_note=INTERVALS,
        sections=[s for s in sections if s and (s["figures"] or s["tables"])],
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _figure(figure: Any, out: Path, name: str, caption: str) -> dict[str, str] | None:
    if figure is None:
        return None
    paths = figures.save(figure, out, name)
    return {"name": name, "caption": caption, "png": base64.b64encode(paths["png"].read_bytes()).decode()}


def _section(id_: str, title: str, figs: Sequence[dict | None] = (), tables: Sequence[dict] = (), text: str = ""):
    return {"id": id_, "title": title, "figures": [f for f in figs if f], "tables": list(tables), "text": text}


def _table(rows: Sequence[dict[str, Any]], *, caption: str = "", gains: Sequence[str] = ()) -> dict[str, Any]:
    headers = list(rows[0]) if rows else []
    body = []
    for row in rows:
        cells = []
        for h in headers:
            value = row.get(h)
            cls = "num" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
            if h in gains and isinstance(value, float) and not math.isnan(value):
                cls += " up" if value > 0 else " down" if value < 0 else ""
            cells.append({"text": cell(value), "cls": cls})
        body.append(cells)
    return {"headers": headers, "rows": body, "caption": caption}


def _matrix_section(results: Results, stats_rows: list[dict], out: Path, *, several: bool) -> dict[str, Any]:
    figs = []
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in stats_rows:
        groups[(row["sweep"], row["model"])].append(
            {**row, "target": analyses.target_label(row["target"], row["regime"])}
        )
    for i, ((sweep, model), cells) in enumerate(sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))):
        label = f"{sweep}, {model}" if several else str(model)
        name = "heatmap" if i == 0 else f"heatmap-{i + 1}"
        caption = f"Gain of each intermediate task over the baseline, per target ({label}); brackets: 95% interval"
        figs.append(
            _figure(
                figures.gain_heatmap(cells, title=f"Gain over the baseline ({label}), [95% interval]"),
                out,
                name,
                caption,
            )
        )
    matrix = analyses.matrix(results)
    stats_table = [
        {
            k: r[k]
            for k in (
                "sweep",
                "model",
                "intermediate",
                "target",
                "regime",
                "metric",
                "runs",
                "mean",
                "sd",
                "ci_low",
                "ci_high",
                "gain",
                "gain_low",
                "gain_high",
                "per_seed",
            )
        }
        for r in stats_rows
    ]
    gains = [k for k in (matrix[0] if matrix else {}) if k.endswith(" vs none")]
    return _section(
        "transfer",
        "Intermediate x target transfer",
        figs,
        [
            _table(matrix, caption="Test score by the protocol, and its gain over the baseline", gains=gains),
            _table(stats_table, caption="Every pair: runs, mean, spread and intervals", gains=["gain"]),
        ],
    )


def _language_section(
    results: Results, stats_rows: list[dict], out: Path, *, target: str | None, palette: dict[str, str]
) -> dict[str, Any]:
    targets = sorted({r["target"] for r in stats_rows})
    if target is not None and target not in targets:
        raise XStiltsError(f"unknown target `{target}`{suggest(target, targets)}; the targets are {', '.join(targets)}")
    rows = analyses.pair_scores(results, by="language")
    if target is None:  # the target with the most languages: the one a per-language view says most about
        counts = defaultdict(set)
        for r in rows:
            counts[r["target"]].add(r["language"])
        target = max(sorted(counts), key=lambda t: len(counts[t]))
    chosen = [r for r in rows if r["target"] == target and r["regime"] in (None, "zero_shot")]
    first = (chosen[0]["sweep"], chosen[0]["model"]) if chosen else None
    chosen = [r for r in chosen if (r["sweep"], r["model"]) == first]
    for r in chosen:
        language = LANGUAGES.get(r["language"])
        r["family"], r["genus"] = (language.family, language.genus) if language else ("unknown", "")
    metric = chosen[0]["metric"] if chosen else ""
    figure = figures.per_language(
        chosen, target=target, metric=metric, palette=palette, title=f"{target}: test {metric} per language"
    )
    caption = (
        f"{target}, zero-shot, per language, languages grouped by family ({first[0]}, {first[1]})" if first else ""
    )
    by_family = [r for r in analyses.pair_scores(results, by="family", where=[f"target={target}"])]
    keep = ("sweep", "model", "intermediate", "regime", "family", "runs", "score", "gain")
    return _section(
        "languages",
        f"Per language: {target}",
        [_figure(figure, out, "per-language", caption)],
        [
            _table(
                [{k: r[k] for k in keep} for r in by_family],
                caption="Mean over each family's languages",
                gains=["gain"],
            )
        ],
    )


def _progress_section(results: Results, out: Path) -> dict[str, Any]:
    rows = analyses.search_progress(results)
    several = len({r["sweep"] for r in rows}) > 1
    for r in rows:
        r["several"] = several
    by_trials = figures.search_progress(rows, against="trials", title="Search progress by trial")
    by_time = figures.search_progress(rows, against="trial_s", title="Search progress by compute")
    text = (
        "Green: the expected best dev score of k trials drawn from those run (Dodge et al. 2019), with one standard "
        "deviation; where it still rises at the last trial, more trials would likely have found better."
    )
    return _section(
        "progress",
        "Search progress",
        [
            _figure(by_trials, out, "progress-trials", "Dev objective per trial, best so far, expected best of k"),
            _figure(by_time, out, "progress-time", "Dev objective against the trial-seconds spent"),
        ],
        text=text,
    )


def _optional_sections(results: Results, stats_rows: list[dict], out: Path, *, palette: dict) -> list[dict]:
    sections = []
    models = _model_order(results)
    by_model = {r["model"] for r in stats_rows}
    if len(by_model) > 1:
        series: dict[str, list[tuple[Any, float]]] = defaultdict(list)
        for entry in sorted({r["intermediate"] for r in stats_rows if r["intermediate"] != BASELINE}):
            for model in [m for m in models if m in by_model]:
                gains = [r["gain"] for r in stats_rows if r["model"] == model and r["intermediate"] == entry]
                gains = [g for g in gains if g is not None]
                if gains:
                    series[entry].append((model, sum(gains) / len(gains)))
        figure = figures.lines(
            {"": series},
            xlabel="model (in the config's order)",
            ylabel="mean gain over targets",
            title="Gain against model",
            palette=palette,
            categorical=True,
        )
        sections.append(
            _section("scaling", "Scaling", [_figure(figure, out, "scaling", "Mean gain over the targets, per model")])
        )
    shares = results.sql(
        """SELECT sweep, intermediate, any_value(english_share) AS share FROM best
           WHERE english_share IS NOT NULL GROUP BY ALL"""
    ).to_pylist()
    share_of = {(r["sweep"], r["intermediate"]): r["share"] for r in shares}
    mixing = {s for s, _ in share_of if len({v for (w, _), v in share_of.items() if w == s}) >= 3}
    if mixing:  # a sweep whose stage ones train on three or more shares of English: a ratio study
        points: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in stats_rows:
            if r["sweep"] in mixing and (r["sweep"], r["intermediate"]) in share_of:
                label = analyses.target_label(r["target"], r["regime"]) + (
                    f" ({r['sweep']})" if len(mixing) > 1 else ""
                )
                points[label][share_of[(r["sweep"], r["intermediate"])]].append(r["mean"])
        series = {k: sorted((x, sum(v) / len(v)) for x, v in by_x.items()) for k, by_x in points.items()}
        figure = figures.lines(
            {"": series},
            xlabel="share of English in stage one's training batches",
            ylabel="test score",
            title="Score against the share of English in intermediate training",
        )
        sections.append(
            _section(
                "ratio",
                "Language ratio",
                [_figure(figure, out, "english-share", "Each target's score against the share of English")],
            )
        )
    layers = results.sql(
        """SELECT r.intermediate, r.target, r.layer, avg(r.value) AS value
           FROM selected s JOIN rows r ON r.sweep = s.sweep AND r.search = s.search AND r.trial_id = s.trial_id
               AND r.attempt = s.attempt AND r.step = s.step
           LEFT JOIN tasks t ON t.task = r.target
           WHERE r.layer IS NOT NULL AND r.split = 'test' AND r.metric = t.metric
           GROUP BY ALL ORDER BY ALL"""
    ).to_pylist()
    if len({r["layer"] for r in layers}) > 1:
        panels: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for r in layers:
            panels[r["target"]][r["intermediate"]].append((r["layer"], r["value"]))
        figure = figures.lines(
            panels,
            xlabel="encoder layer",
            ylabel="test score (mean over languages)",
            title="Retrieval by layer",
            palette=palette,
            integer_x=True,
        )
        sections.append(
            _section(
                "layers",
                "Alignment by layer",
                [_figure(figure, out, "layers", "Retrieval score of each layer's embeddings")],
            )
        )
    return sections


def _model_order(results: Results) -> list[str]:
    order: list[str] = []
    for sweep in results.sweeps:
        models = sweep.config.get("model")
        for entry in models if isinstance(models, list) else [models or {}]:
            if (name := (entry or {}).get("name")) and name not in order:
                order.append(name)
    return order


def _benchmark_section(results: Results) -> dict[str, Any]:
    present = {r["target"] for r in results.sql("SELECT DISTINCT target FROM best").to_pylist()}
    tables = []
    for version in benchmark.VERSIONS:
        if present & set(benchmark.LANGUAGES[version]):
            rows = analyses.benchmark_table(results, version=version)
            tables.append(
                _table(
                    rows,
                    caption=f"{version.upper()} scores as evaluate.py computes them "
                    "(a task needs all its languages; see docs/analysis.md)",
                )
            )
    return _section("benchmark", "Benchmark scores", tables=tables)


def _cost_section(results: Results) -> dict[str, Any]:
    hp = "".join(f", t.{c}" for c in results.hp_columns)
    rows = results.sql(
        f"""WITH cost AS (
                SELECT sweep, search, any_value(pair) AS pair, count(DISTINCT trial_id) AS trials,
                       sum(wall_s) AS trial_s, sum(gpu_hours) AS gpu_hours
                FROM trials GROUP BY sweep, search)
            SELECT c.sweep, c.pair, c.search, s.trial_id, s.step, s.objective, c.trials, c.trial_s, c.gpu_hours{hp}
            FROM cost c
            LEFT JOIN selected s ON s.sweep = c.sweep AND s.search = c.search AND s.run IS NULL
            LEFT JOIN trials t ON t.sweep = s.sweep AND t.search = s.search AND t.trial_id = s.trial_id
                AND t.attempt = s.attempt
            ORDER BY c.sweep, c.search"""
    ).to_pylist()
    total = sum(r["trial_s"] or 0 for r in rows)
    gpu = sum(r["gpu_hours"] or 0 for r in rows)
    text = f"In all: {total:,.0f} trial-seconds" + (f", {gpu:,.2f} GPU-hours." if gpu else " (no GPUs were used).")
    return _section("cost", "Best configurations and cost", tables=[_table(rows)], text=text)
