"""xstilts' orchestration: a study's config, its plan, the checks before compute, the Ray Tune run, the
results it stores, and the analyses and reports over them.

Subpackages, each importing only those below it (``pyproject.toml``'s import contracts; docs/architecture.md)::

    sweep.cli, sweep.api        the ``sweep`` command and the notebook API
    sweep.report                HTML report, figures, exported predictions, printed tables
    sweep.analysis | sweep.run  reading sweeps  |  running a study (neither imports the other)
    sweep.preflight             every check of a config before compute
    sweep.track                 MLflow, W&B, TensorBoard, the Optuna journal, a webhook: views of a running study
    sweep.plan                  the searches, their graph, a stage one's identity
    sweep.config | sweep.storage  the config records  |  the sweep folder, results and stores
    sweep.errors                one exception family

Python API: ``from sweep import launch, resume`` (``sweep.run.driver``); ``from sweep.api import Analysis``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any

#: Modules that moved, by the names a sweep written by xstilts 0.1 still holds: Ray Tune pickles the study's
#: searcher, scheduler and callback by class path in its ``tuner.pkl``, and unpickles them on resume.
MOVED = {"sweep.tuning": "sweep.run.tuning"}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves an old module name (``MOVED``) as the module it became: the same module object, so a class
    unpickled by its old path is the class itself."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        module = importlib.import_module(MOVED[spec.name])
        spec.loader_state = module.__spec__  # the import system gives the module the old name's spec next
        return module

    def exec_module(self, module: Any) -> None:
        module.__spec__ = module.__spec__.loader_state  # the module has run already: its own spec back


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())


def offers(package: str, names: dict[str, str]) -> Any:
    """A subpackage's ``__getattr__`` that imports each name it offers (``names``: name -> module) on first use,
    so that importing one module of a subpackage never imports the rest: `sweep query` imports no driver."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name]), name)

    return __getattr__


__getattr__ = offers("sweep", {"launch": "sweep.run.driver", "resume": "sweep.run.driver"})
