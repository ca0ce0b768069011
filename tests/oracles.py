"""The benchmarks' official evaluation scripts, loaded at test time as oracles.

They are not part of this project: they live in ``../shared/oracles/`` beside the project root (see the
README there; the ``XSTILTS_ORACLES`` environment variable names another folder), and a test that needs
one skips when the folder is absent, as it is in a fresh clone. From each script only the definitions a
test needs are taken (``load_official``), so a script's module-level imports of packages those
definitions never use (transformers, torch, seqeval, faiss, ...) are not run.
"""

from __future__ import annotations

import ast
import os
import warnings
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ORACLES_ENV = "XSTILTS_ORACLES"  # another folder laid out like ../shared/oracles (or a missing one: all skip)


def _oracles_dir() -> Path:
    """``../shared/oracles`` beside the project root, or ``$XSTILTS_ORACLES``; skip the test when absent."""
    override = os.environ.get(ORACLES_ENV)
    folder = Path(override) if override else PROJECT_ROOT.parent / "shared" / "oracles"
    if not folder.is_dir():
        if override:
            pytest.skip(f"{ORACLES_ENV}={override} is absent, so the official scripts are too")
        pytest.skip("../shared/oracles is absent (a fresh clone has none)")
    return folder


def _bound_names(node: ast.stmt) -> list[str]:
    """The module-level names one top-level statement defines."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [_import_name(alias) for alias in node.names]
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    names = []
    for target in targets:
        for element in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
            if isinstance(element, ast.Name):
                names.append(element.id)
    return names


def _import_name(alias: ast.alias) -> str:
    return alias.asname or alias.name.split(".")[0]


def load_official(relative_path: str, *wanted: str, **injected: Any) -> dict[str, Any]:
    """Run the named definitions of an official script, and what they use, in a fresh namespace.

    ``wanted`` names top-level definitions, or a function nested in one (run_xcopa.py's
    ``compute_metrics`` lives inside ``main``). The top-level statements they refer to, directly or
    through each other (helper functions, constants, imports), are taken with them, in the file's
    order; nothing else in the file runs. A name given in ``injected`` is bound to that object
    instead of being imported.
    """
    path = _oracles_dir() / relative_path
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the oracles folder is there but lacks this script (see its README)")
    with warnings.catch_warnings():
        # The originals contain '\s' in a plain string (MLQA) and `is not 'bwd'` (utils_retrieve).
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        module = ast.parse(path.read_bytes(), filename=str(path))
        definitions: dict[str, list[ast.stmt]] = {}
        for node in module.body:
            for name in _bound_names(node):
                definitions.setdefault(name, []).append(node)
        roots: list[ast.stmt] = []
        for name in wanted:
            found = definitions.get(name) or [
                node for node in ast.walk(module) if isinstance(node, ast.FunctionDef) and node.name == name
            ]
            if len(found) != 1:
                raise LookupError(f"{path}: expected one definition of {name!r}, found {len(found)}")
            roots.extend(found)
        taken: dict[int, ast.stmt] = {}
        used: set[str] = set()
        pending = list(roots)
        while pending:
            node = pending.pop()
            if id(node) in taken:
                continue
            taken[id(node)] = node
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - set(injected)
            used |= names
            pending.extend(dep for name in sorted(names) for dep in definitions.get(name, []))
        futures = [node for node in module.body if isinstance(node, ast.ImportFrom) and node.module == "__future__"]
        body: list[ast.stmt] = list(futures)  # first, in their order, as the compiler wants them
        for node in module.body:
            if id(node) in taken and node not in futures:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    node.names = [alias for alias in node.names if _import_name(alias) in used]
                body.append(node)
        top_level_ids = {id(node) for node in module.body}
        body.extend(node for node in roots if id(node) not in top_level_ids)  # nested ones, after what they use
        code = compile(ast.Module(body=body, type_ignores=[]), str(path), "exec", dont_inherit=True)
    namespace: dict[str, Any] = {"__name__": f"official.{path.stem}", "__file__": str(path), **injected}
    exec(code, namespace)
    return namespace
