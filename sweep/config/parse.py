"""Turning nested mappings (parsed YAML) into frozen, keyword-only dataclasses, strictly.

Unknown keys are problems ("did you mean"), never dropped; every problem is collected so a user
sees them all at once.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from sweep.errors import suggest


def parse_dataclass(cls: type, data: Any, *, where: str, problems: list[str]) -> Any:
    """Build ``cls`` from ``data``, appending a problem per unknown key or bad value.

    Bad values fall back to the field's default so that later checks still run and every problem
    is reported in one go; None is returned only when a required field has no usable value.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        problems.append(f"{where or 'the config'} must be a mapping of keys to values, got {_show(data)}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, raw in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            problems.append(
                f"unknown key `{key}` in {where or 'the config'}{suggest(key, fields)}; known keys: {', '.join(fields)}"
            )
            continue
        value, good = convert(hints[key], raw, where=path, problems=problems)
        if good:
            values[key] = value
    ok = True
    for name, f in fields.items():
        if name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            if name not in data:
                problems.append(f"missing key `{name}` in {where or 'the config'}")
            ok = False
    return cls(**values) if ok else None


def convert(hint: Any, raw: Any, *, where: str, problems: list[str]) -> tuple[Any, bool]:
    """Convert ``raw`` to the annotated type ``hint``; return (value, ok)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if raw is None and type(None) in args:
            return None, True
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return convert(inner[0], raw, where=where, problems=problems)
        for candidate in inner:  # e.g. str | dict: take the first that fits without complaint
            trial: list[str] = []
            value, good = convert(candidate, raw, where=where, problems=trial)
            if good:
                return value, True
        problems.append(f"{where} has the wrong type: got {_show(raw)}, expected {_name(hint)}")
        return None, False
    if isinstance(hint, type) and hasattr(hint, "from_config"):  # a type that parses itself (a search space)
        value = hint.from_config(raw, where=where, problems=problems)
        return value, value is not None
    if dataclasses.is_dataclass(hint):
        value = parse_dataclass(hint, raw, where=where, problems=problems)
        return value, value is not None
    if origin is tuple:
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, (list, tuple)):
            problems.append(f"{where} must be a list, got {_show(raw)}")
            return None, False
        out, ok = [], True
        for i, item in enumerate(raw):
            value, good = convert(args[0], item, where=f"{where}[{i}]", problems=problems)
            out.append(value)
            ok &= good
        return tuple(out), ok
    if origin is dict or hint is dict:
        if not isinstance(raw, Mapping):
            problems.append(f"{where} must be a mapping, got {_show(raw)}")
            return None, False
        return dict(raw), True
    if hint is Any:
        return raw, True
    if hint is bool:
        if isinstance(raw, bool):
            return raw, True
    elif hint is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw, True
    elif hint is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw), True
        if isinstance(raw, str):  # YAML reads 1e-5 (no dot) as a string
            try:
                return float(raw), True
            except ValueError:
                pass
    elif hint is str:
        if isinstance(raw, str):
            return raw, True
    problems.append(f"{where} must be {_name(hint)}, got {_show(raw)}")
    return None, False


def _name(hint: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))


def _show(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."
