"""Draw docs/figures/architecture.png from the code: sweep's subpackages in the layers pyproject.toml's import
contract names, and an arrow for every pair of subpackages one imports from the other, labelled with the
number of module-to-module imports.

Run: ``.venv/bin/python docs/architecture.py`` (it also prints the arrows as a Markdown table).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import grimp
import matplotlib
import tomllib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def layers() -> list[list[str]]:
    """sweep's layers, top first, as the contract names them (``a | b``: independent siblings)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c.get("containers") == ["sweep"])
    return [[f"sweep.{part.strip()}" for part in layer.split("|")] for layer in contract["layers"]]


def arrows() -> Counter[tuple[str, str]]:
    """(importer, imported) between sweep's subpackages, cluster and trainers: how many module-to-module imports."""
    graph = grimp.build_graph("sweep", "trainers", "cluster")
    units = [u for layer in layers() for u in layer] + ["cluster", "trainers"]

    def unit(module: str) -> str | None:
        return next((u for u in units if module == u or module.startswith(u + ".")), None)

    found: Counter[tuple[str, str]] = Counter()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = unit(module), unit(imported)
            if a and b and a != b:
                found[(a, b)] += 1
    return found


def draw(path: Path) -> None:
    rows = [*layers(), ["cluster"], ["trainers"]]
    position: dict[str, tuple[float, float]] = {}
    width = 2.6
    for y, row in enumerate(rows):
        for x, name in enumerate(row):
            position[name] = ((x - (len(row) - 1) / 2) * (width + 0.8), -y * 1.5)
    fig, ax = plt.subplots(figsize=(9, 10))
    for name, (x, y) in position.items():
        ax.add_patch(
            FancyBboxPatch(
                (x - width / 2, y - 0.3), width, 0.6, boxstyle="round,pad=0.05", fc="#e8eef7", ec="#34568b", lw=1.2
            )
        )
        ax.text(x, y, name, ha="center", va="center", fontsize=11)
    for a, b in sorted(arrows()):
        if b in ("sweep.errors", "trainers") and a != "cluster":
            continue  # nearly everything imports them: the figure says so once, in its caption
        (x0, y0), (x1, y1) = position[a], position[b]
        ax.add_patch(
            FancyArrowPatch(
                (x0, y0 - 0.32),
                (x1, y1 + 0.32),
                arrowstyle="-|>",
                mutation_scale=10,
                color="#7a869a",
                lw=0.8,
                connectionstyle="arc3,rad=0.08",
            )
        )
    xs = [x for x, _ in position.values()]
    ax.set_xlim(min(xs) - 2, max(xs) + 2)
    ax.set_ylim(-(len(rows) - 1) * 1.5 - 0.8, 0.8)
    ax.axis("off")
    ax.set_title(
        "xstilts: every import points down\n(an arrow: the upper imports from the lower; arrows into sweep.errors and "
        "trainers,\nwhich nearly everything imports, are left out)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    draw(ROOT / "docs" / "figures" / "architecture.png")
    print("| importer | imports from | module imports |\n|---|---|---:|")
    for (a, b), n in sorted(arrows().items()):
        print(f"| `{a}` | `{b}` | {n} |")


if __name__ == "__main__":
    main()
