"""The package layout keeps its promises: the import contracts in pyproject.toml hold (layers, no circles),
``sweep/`` stays a few modules over subpackages, every module is on the architecture page, and private Ray
internals are used in one marked place only."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sweep", "trainers", "cluster", "search_spaces")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def test_the_import_contracts_hold() -> None:
    # import-linter reads every import, lazy ones and those under TYPE_CHECKING too.
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in done.stdout


def test_sweep_is_a_few_modules_over_subpackages() -> None:
    top = sorted(p.name for p in (ROOT / "sweep").glob("*.py"))
    assert len(top) <= 10, top
    for package in (ROOT / "sweep").iterdir():
        if package.is_dir() and package.name not in ("__pycache__",) and any(package.glob("*.py")):
            doc = (package / "__init__.py").read_text()
            assert doc.startswith('"""'), f"{package.name}/__init__.py says what the subpackage offers"


def test_every_module_is_named_on_the_architecture_page() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:sweep|trainers|cluster)(?:\.\w+)*)`", page))
    missing = [m for m in _modules() if m.split(".")[0] != "search_spaces" and m not in named]
    assert not missing, f"docs/architecture.md does not name: {missing}"


def test_private_ray_internals_live_in_one_marked_module() -> None:
    users = []
    for name, path in _modules().items():
        text = path.read_text()
        if "ray._private" in text or "._local_tuner" in text:
            users.append(name)
    assert users == ["cluster.ray_compat"]


def test_a_config_runs_down_the_layers_from_launch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Following a config from ``launch`` to the cluster, no call comes back up into a module that is already
    on the call stack below it: records hold data, and what checks, plans or runs takes them as input."""
    from sweep.run import driver

    class Connected(Exception):
        pass

    def connect(*args: object, **kwargs: object) -> None:
        raise Connected  # the cluster is where this test stops

    monkeypatch.setattr(driver, "_connect", connect)
    stack: list[str] = []
    entered: list[str] = []
    climbs: list[tuple[str, str]] = []

    def profile(frame: object, event: str, arg: object) -> None:
        name = frame.f_globals.get("__name__", "")  # type: ignore[attr-defined]
        if event not in ("call", "return") or not name.startswith(("sweep", "trainers", "cluster")):
            return
        if event == "return":
            stack.pop()
            return
        if stack and stack[-1] != name and name in stack:
            climbs.append((stack[-1], name))
        entered.extend([name] if name not in entered else [])
        stack.append(name)

    sys.setprofile(profile)
    try:
        driver.launch(ROOT / "configs" / "quickstart.yaml", storage=tmp_path)
    except Connected:
        pass
    finally:
        sys.setprofile(None)
    assert "sweep.preflight.validate" in entered and "sweep.plan.searches" in entered
    assert climbs == []
