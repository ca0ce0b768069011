"""The report's figures, drawn with matplotlib's Agg backend (no display needed) from the analyses' rows.

Each function returns a ``matplotlib.figure.Figure`` (or None where the study has nothing to draw);
``save`` writes it as PNG and SVG. Colours carry meaning: gains on a diverging map centred on zero (blue up,
red down), one colour per intermediate entry across figures, the baseline always grey.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sweep.analysis.catalog import BASELINE

BASELINE_COLOUR = "#7f7f7f"
MIN_GAIN_SCALE = 0.01  # the heatmap's colours reach full strength at no less than this gain


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "svg.fonttype": "none"})
    return plt


def colours(entries: Sequence[str]) -> dict[str, str]:
    """One colour per intermediate entry (the baseline grey), the same in every figure."""
    plt = _pyplot()
    cycle = plt.get_cmap("tab10").colors
    others = [e for e in entries if e != BASELINE]
    from matplotlib.colors import to_hex

    out = {e: to_hex(cycle[i % len(cycle)]) for i, e in enumerate(others)}
    return {**out, BASELINE: BASELINE_COLOUR}


def save(figure: Any, out: Path, name: str) -> dict[str, Path]:
    """Write ``figure`` as ``out/name.png`` and ``out/name.svg``; return both paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / f"{name}.{kind}" for kind in ("png", "svg")}
    for kind, path in paths.items():
        figure.savefig(path, dpi=150 if kind == "png" else None, bbox_inches="tight")
    _pyplot().close(figure)
    return paths


def gain_heatmap(cells: Sequence[Mapping[str, Any]], *, title: str) -> Any:
    """Intermediate x target heatmap of gains over the baseline, each cell labelled with its gain and, where
    the pair has seeds, its 95% interval. ``cells``: rows with intermediate, target, gain, gain_low, gain_high."""
    plt = _pyplot()
    from matplotlib.colors import TwoSlopeNorm

    rows = sorted({c["intermediate"] for c in cells if c["intermediate"] != BASELINE})
    columns = sorted({c["target"] for c in cells})
    if not rows or not columns:
        return None
    value = {(c["intermediate"], c["target"]): c for c in cells}
    grid = [[_num(value.get((r, t), {}).get("gain")) for t in columns] for r in rows]
    finite = [abs(v) for row in grid for v in row if not math.isnan(v)]
    # At least one point either way: a gain of 0.003 must not look as strong as one of 0.1.
    bound = max([*finite, MIN_GAIN_SCALE])
    width, height = 1.6 + 1.25 * len(columns), 1.2 + 0.55 * len(rows)
    figure, axes = plt.subplots(figsize=(max(width, 4.5), max(height, 2.4)))
    image = axes.imshow(grid, cmap="RdBu", norm=TwoSlopeNorm(vcenter=0.0, vmin=-bound, vmax=bound), aspect="auto")
    axes.set_xticks(range(len(columns)), labels=columns, rotation=30, ha="right")
    axes.set_yticks(range(len(rows)), labels=rows)
    axes.set_xlabel("target task")
    axes.set_ylabel("intermediate task")
    for i, r in enumerate(rows):
        for j, t in enumerate(columns):
            cell = value.get((r, t))
            if cell is None or cell.get("gain") is None:
                axes.text(j, i, "-", ha="center", va="center", color="#444444")
                continue
            text = f"{cell['gain']:+.3f}"
            if cell.get("gain_low") is not None:
                text += f"\n[{cell['gain_low']:+.3f}, {cell['gain_high']:+.3f}]"
            strong = abs(cell["gain"]) > 0.6 * bound
            axes.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if strong else "black")
    bar = figure.colorbar(image, ax=axes, shrink=0.9)
    bar.set_label("gain over the baseline (test score)")
    axes.set_title(title)
    return figure


def per_language(
    rows: Sequence[Mapping[str, Any]], *, target: str, metric: str, palette: Mapping[str, str], title: str
) -> Any:
    """One target's test score per language for each intermediate entry, languages grouped by family (then
    genus) with the family named under its group. ``rows``: intermediate, language, family, genus, score."""
    plt = _pyplot()
    if not rows:
        return None
    languages = sorted(
        {(r["family"] or "unknown", r["genus"] or "", r["language"]) for r in rows}, key=lambda x: (x[0], x[1], x[2])
    )
    position = {lang: i for i, (_, _, lang) in enumerate(languages)}
    entries = sorted({r["intermediate"] for r in rows}, key=lambda e: (e != BASELINE, e))
    figure, axes = plt.subplots(figsize=(max(5.0, 1.5 + 0.42 * len(languages)), 3.6))
    for k, entry in enumerate(entries):
        points = sorted((position[r["language"]], r["score"]) for r in rows if r["intermediate"] == entry)
        offset = (k - (len(entries) - 1) / 2) * 0.12
        axes.plot(
            [x + offset for x, _ in points],
            [y for _, y in points],
            "o" if entry != BASELINE else "s",
            color=palette.get(entry, "black"),
            label=entry,
            markersize=5,
        )
    axes.set_xticks(range(len(languages)), labels=[lang for _, _, lang in languages])
    starts: dict[str, list[int]] = defaultdict(list)
    for i, (family, _, _) in enumerate(languages):
        starts[family].append(i)
    for family, indices in starts.items():
        if indices[0] > 0:
            axes.axvline(indices[0] - 0.5, color="#cccccc", linewidth=0.8)
        axes.annotate(
            family,
            xy=((indices[0] + indices[-1]) / 2, 0),
            xycoords=("data", "axes fraction"),
            xytext=(0, -22),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=7,
            rotation=20 if len(indices) < 3 else 0,
        )
    axes.set_xlim(-0.6, len(languages) - 0.4)
    axes.set_ylabel(f"{target} test {metric}")
    axes.legend(title="intermediate", fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    axes.grid(axis="y", color="#eeeeee")
    axes.set_title(title)
    return figure


def search_progress(rows: Sequence[Mapping[str, Any]], *, against: str, title: str) -> Any:
    """Small multiples, one per search: each trial's dev score, the best so far, and the expected best of k
    trials with one standard deviation, against the trial index (``against="trials"``) or the trial-seconds
    spent (``"trial_s"``)."""
    plt = _pyplot()
    searches: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    models = len({row.get("model") for row in rows}) > 1
    for row in rows:
        stage_one = row["search"].split(".")[-1].startswith("intermediate-")
        name = (
            row["pair"]
            + (" (stage one)" if stage_one else "")
            + (f", {row['model']}" if models else "")
            + (f" [{row['sweep']}]" if row.get("several") else "")
        )
        searches[name].append(row)
    searches = {k: v for k, v in searches.items() if len(v) > 1}
    if not searches:
        return None
    columns = min(3, len(searches))
    lines = math.ceil(len(searches) / columns)
    figure, grid = plt.subplots(lines, columns, figsize=(3.6 * columns, 2.6 * lines), squeeze=False)
    for axes, (name, trials) in zip(grid.flat, sorted(searches.items()), strict=False):
        x = [t[against] for t in trials]
        axes.plot(x, [t["objective"] for t in trials], "o", color="#1f77b4", markersize=4, label="trial")
        axes.step(x, [t["best_so_far"] for t in trials], where="post", color="#d62728", label="best so far")
        if against == "trials":
            mean = [t["expected_best"] for t in trials]
            spread = [t["expected_best_sd"] for t in trials]
            axes.plot(x, mean, color="#2ca02c", label="expected best of k")
            axes.fill_between(
                x,
                [m - s for m, s in zip(mean, spread, strict=True)],
                [m + s for m, s in zip(mean, spread, strict=True)],
                color="#2ca02c",
                alpha=0.15,
                linewidth=0,
            )
        axes.set_title(name, fontsize=8)
        if against == "trials":
            from matplotlib.ticker import MaxNLocator

            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("trials" if against == "trials" else "trial-seconds spent")
        axes.set_ylabel("dev objective")
        axes.grid(color="#eeeeee")
    for axes in list(grid.flat)[len(searches) :]:
        axes.set_visible(False)
    grid.flat[0].legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.35 / figure.get_figheight()))  # room for the title
    return figure


def lines(
    panels: Mapping[str, Mapping[str, Sequence[tuple[Any, float]]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    palette: Mapping[str, str] | None = None,
    categorical: bool = False,
    integer_x: bool = False,
) -> Any:
    """Side-by-side panels (``{panel: {label: [(x, y), ...]}}``), a line per label: score against model, against
    a mixture's share of English, or a retrieval task's score against layer (a panel per task)."""
    plt = _pyplot()
    panels = {p: {k: v for k, v in series.items() if v} for p, series in panels.items()}
    panels = {p: series for p, series in panels.items() if series}
    if not panels:
        return None
    labels = sorted({label for series in panels.values() for label in series}, key=lambda e: (e != BASELINE, e))
    palette = {**colours(labels), **(palette or {})}
    figure, grid = plt.subplots(1, len(panels), figsize=(1.2 + 3.6 * len(panels), 3.3), squeeze=False)
    for axes, (name, series) in zip(grid.flat, panels.items(), strict=True):
        ticks: list[Any] = []
        for points in series.values():
            ticks += [x for x, _ in points if x not in ticks]
        for label in sorted(series, key=lambda e: (e != BASELINE, e)):
            points = series[label]
            xs = [ticks.index(x) if categorical else x for x, _ in points]
            style = "s--" if label == BASELINE else "o-"
            axes.plot(xs, [y for _, y in points], style, label=label, color=palette.get(label), markersize=4)
        if categorical:
            axes.set_xticks(range(len(ticks)), labels=[str(t) for t in ticks], rotation=20, ha="right")
        elif integer_x:
            from matplotlib.ticker import MaxNLocator

            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.grid(color="#eeeeee")
        if len(panels) > 1 or name:
            axes.set_title(name, fontsize=9)
    handles, names = grid.flat[0].get_legend_handles_labels()
    seen = dict(zip(names, handles, strict=True))
    for axes in list(grid.flat)[1:]:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    figure.legend(list(seen.values()), list(seen), fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _num(value: float | None) -> float:
    return float("nan") if value is None else float(value)
