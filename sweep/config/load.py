"""Reading a sweep config: YAML plus ``key=value`` overrides, paths resolved, parsed into the records.

``read_config`` collects every problem of the file's shape (unknown keys, wrong types) and returns them
with the record; ``sweep.preflight.load_config`` adds the checks against the world outside the config and
raises them all at once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from sweep.config.models import ModelEntry
from sweep.config.parse import parse_dataclass
from sweep.config.records import SweepConfig, TargetOverrides
from sweep.config.source import read_source, stem
from sweep.errors import ConfigError
from trainers.errors import TaskError
from trainers.tasks import get_task


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``key.sub=value`` strings (values as YAML) into a dotted-key dict."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError([f"override `{item}` is not of the form key=value (e.g. training.zero_stage=2)"])
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError as exc:
            problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
            raise ConfigError(
                [
                    f"override `{item}`: the value is not valid YAML ({problem}); write it as YAML, quoted for the "
                    "shell, e.g. 'languages=[en,de]'"
                ]
            ) from exc
    return out


def read_config(path: str | Path, overrides: Sequence[str] = ()) -> tuple[SweepConfig | None, list[str]]:
    """Read a sweep config, apply ``overrides`` and resolve its paths; return the record (None where its
    shape is too broken to build one) and every problem of its shape. A file that cannot be read at all
    raises ConfigError.

    ``path`` is a file, a packaged config (``xstilts:quickstart``) or a URI (``sweep.config.source``).

    Example: ``config, problems = read_config("configs/quickstart.yaml", ["target.num_samples=2"])``.
    """
    text, folder = read_source(path)
    where = str(path)
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"], source=where) from exc
    if not isinstance(raw, dict):
        raise ConfigError(["the top level must be a mapping of keys to values"], source=where)
    raw.setdefault("name", stem(path))
    overridden = set()
    for dotted, value in parse_overrides(overrides).items():
        _set_dotted(raw, dotted, value)
        overridden.add(dotted)
    # Paths in the file are relative to the file; paths given on the command line, to the shell's folder.
    unanchored: list[tuple[str, str]] = []
    for key in ("data_dir", "model.tokenizer", "model.path", "storage", "checkpoint_store"):
        _resolve_path(raw, key, base=Path.cwd() if key in overridden else folder, unanchored=unanchored)
    _resolve_file_uri(raw, base=Path.cwd() if "tracking.mlflow.tracking_uri" in overridden else folder)
    problems: list[str] = []
    if isinstance(raw.get("model"), list):  # several models (``sweep.config.models``)
        entries = raw.pop("model")
        for entry in entries:
            if isinstance(entry, dict):
                for key in ("tokenizer", "path"):
                    _resolve_path({"model": entry}, f"model.{key}", base=folder, unanchored=unanchored)
        models = [
            ModelEntry.from_config(entry, where=f"model[{i}]", problems=problems) for i, entry in enumerate(entries)
        ]
        raw["models"] = tuple(m for m in models if m is not None)
        if not entries:
            problems.append("model is an empty list; name at least one model")
    if raw.get("languages") == "all":
        raw["languages"] = _all_languages(raw.get("target_tasks"))
    models = raw.pop("models", ())
    per_target = raw.pop("per_target", None) or {}
    if not isinstance(per_target, dict):
        problems.append(f"per_target must be a mapping of target -> its overrides, got {per_target!r}")
        per_target = {}
    overrides = {
        target: parse_dataclass(TargetOverrides, value, where=f"per_target.{target}", problems=problems)
        for target, value in per_target.items()
    }
    problems.extend(
        f"{key}: `{value}` is a relative path in a config on shared storage, which has no folder for it to "
        f"start from; write an absolute path or a URI, or set it on the command line ({key}=/data/...)"
        for key, value in unanchored
    )
    config = parse_dataclass(SweepConfig, raw, where="", problems=problems)
    if config is not None and models:
        config = dataclasses.replace(config, model=models[0].spec, models=models)
    if config is not None:
        config = dataclasses.replace(config, per_target={t: o for t, o in overrides.items() if o is not None})
    return config, problems


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    node = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {} if child is None else child
        if not isinstance(child, dict):
            raise ConfigError([f"override `{dotted}`: `{part}` is a value, not a section; set it whole ({part}=...)"])
        node = child
    node[parts[-1]] = value


def _resolve_path(raw: dict[str, Any], dotted: str, *, base: Path | None, unanchored: list[tuple[str, str]]) -> None:
    """Make the path at ``dotted`` absolute against ``base``; with no base (a config on shared storage),
    note a relative one in ``unanchored`` instead."""
    node: Any = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, Mapping) else None
    if not isinstance(node, dict) or not isinstance(node.get(parts[-1]), str):
        return
    value = os.path.expanduser(node[parts[-1]])
    if "://" in value:  # a URI (shared storage) is no path
        return
    if base is None and not os.path.isabs(value):
        # A model.path may be a hub id, which is no path at all.
        if dotted != "model.path" or value.startswith("."):
            unanchored.append((dotted, value))
        return
    candidate = Path(value) if os.path.isabs(value) else (base / value)  # type: ignore[operator]
    # A model.path that does not exist locally may be a hub id: leave it as written.
    if dotted != "model.path" or candidate.exists():
        node[parts[-1]] = str(candidate.resolve())


def _resolve_file_uri(raw: dict[str, Any], *, base: Path | None) -> None:
    """A relative MLflow store in a folder or a SQLite file (``file:mlruns``, ``sqlite:///mlflow.db``) made
    absolute, as paths are: the driver that resumes the sweep may start in another folder."""
    mlflow = (raw.get("tracking") or {}).get("mlflow") if isinstance(raw.get("tracking"), dict) else None
    uri = mlflow.get("tracking_uri") if isinstance(mlflow, dict) else None
    if base is None or not isinstance(uri, str):
        return
    for prefix in ("sqlite:///", "file:"):
        if uri.startswith(prefix) and not uri.startswith("file://"):
            path = Path(os.path.expanduser(uri.removeprefix(prefix)))
            if not path.is_absolute():
                mlflow["tracking_uri"] = f"{prefix}{(base / path).resolve()}"
            return


def _all_languages(targets: Any) -> list[str]:
    seen: list[str] = []
    for name in targets or []:
        try:
            langs = get_task(name).languages
        except (TaskError, TypeError):
            continue
        seen.extend(lang for lang in langs if lang not in seen)
    return seen
