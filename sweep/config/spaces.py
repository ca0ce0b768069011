"""Search spaces: named YAML files under ``search_spaces/`` or inline in a config, resolved once.

A space maps hyperparameter names (the fields of ``trainers.spec.HyperParameters``) to a
distribution or a constant::

    params:
      learning_rate: {type: loguniform, low: 1.0e-4, high: 3.0e-3}
      warmup_ratio: {type: choice, values: [0.0, 0.1]}
      micro_batch_size: 16

A config names one (``search_space: tpe_default``) or writes it inline (``{extends: NAME, params:
{...}}``); parsing the config resolves it into a ``SearchSpace``, which is all the rest of xstilts
sees: Ray Tune gets ``to_tune()``, the sweep's config copy gets ``to_yaml()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sweep.errors import suggest
from trainers.spec import HYPERPARAMETERS, unknown_hyperparameter

SPACE_DIR = Path(__file__).resolve().parents[2] / "search_spaces"
DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")


@dataclass(frozen=True, kw_only=True)
class Param:
    """One searched (or fixed) hyperparameter."""

    name: str
    type: str  # uniform | loguniform | int | choice | constant
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()

    def to_tune(self) -> Any:
        """Return the Ray Tune domain (or the constant) for this parameter."""
        from ray import tune

        if self.type == "uniform":
            return tune.uniform(self.low, self.high)
        if self.type == "loguniform":
            return tune.loguniform(self.low, self.high)
        if self.type == "int":
            return tune.randint(int(self.low), int(self.high) + 1)  # randint's upper bound is exclusive
        if self.type == "choice":
            return tune.choice(list(self.values))
        return self.values[0]

    def to_yaml(self) -> Any:
        """Return the YAML form this parameter was read from (constants as plain values)."""
        if self.type == "constant":
            return self.values[0]
        if self.type == "choice":
            return {"type": "choice", "values": list(self.values)}
        return {"type": self.type, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class SearchSpace:
    """A resolved search space: each hyperparameter it searches or fixes, by name."""

    params: dict[str, Param]

    @classmethod
    def from_config(cls, raw: Any, *, where: str, problems: list[str]) -> SearchSpace | None:
        """Resolve a space name or an inline mapping, appending every problem; None when unusable."""
        count = len(problems)
        params = load_space(raw, where=where, problems=problems)
        return cls(params) if len(problems) == count else None

    @classmethod
    def named(cls, name: str) -> SearchSpace:
        """The shipped space ``name`` (``search_spaces/<name>.yaml``); a ConfigError lists its problems."""
        problems: list[str] = []
        space = cls.from_config(name, where="search_space", problems=problems)
        if space is None:
            from sweep.errors import ConfigError

            raise ConfigError(problems)
        return space

    def to_tune(self) -> dict[str, Any]:
        """Ray Tune's ``param_space`` for the searched values (constants as plain values)."""
        return {name: param.to_tune() for name, param in self.params.items()}

    def to_yaml(self) -> dict[str, Any]:
        """The inline form (``{params: ...}``), which parses back to an equal space."""
        return {"params": {name: param.to_yaml() for name, param in self.params.items()}}


def available_spaces() -> list[str]:
    """Names of the search spaces shipped under ``search_spaces/``."""
    return sorted(p.stem for p in SPACE_DIR.glob("*.yaml"))


def load_space(spec: str | Mapping[str, Any], *, where: str, problems: list[str]) -> dict[str, Param]:
    """Resolve a space given by name, or inline as ``{extends: NAME, params: {...}}`` / ``{params: ...}``."""
    if isinstance(spec, str):
        path = SPACE_DIR / f"{spec}.yaml"
        if not path.is_file():
            problems.append(
                f"{where}: unknown search space `{spec}`{suggest(spec, available_spaces())}; "
                f"shipped spaces: {', '.join(available_spaces())}"
            )
            return {}
        data = yaml.safe_load(path.read_text()) or {}
        extra = set(data) - {"description", "params"}
        if extra:
            problems.append(f"search space file {path} has unknown key(s) {sorted(extra)}")
        return parse_params(data.get("params"), where=f"{where} ({spec})", problems=problems)
    if not isinstance(spec, Mapping):
        problems.append(f"{where} must be a space name or a mapping with `params`, got {spec!r}")
        return {}
    extra = set(spec) - {"extends", "params", "description"}
    if extra:
        problems.append(f"unknown key(s) {sorted(extra)} in {where}; a space has `extends`, `params`, `description`")
    base = load_space(spec["extends"], where=where, problems=problems) if spec.get("extends") else {}
    return {**base, **parse_params(spec.get("params"), where=f"{where}.params", problems=problems)}


def parse_params(data: Any, *, where: str, problems: list[str]) -> dict[str, Param]:
    """Parse a ``params`` mapping, checking names, types and bounds; problems are appended."""
    if not isinstance(data, Mapping) or not data:
        problems.append(f"{where} must map hyperparameter names to distributions (it is {data!r})")
        return {}
    params = {}
    for name, raw in data.items():
        here = f"{where}.{name}"
        if (problem := unknown_hyperparameter(name)) is not None:
            problems.append(f"{where}: {problem}")
            continue
        param = _parse_one(name, raw, where=here, problems=problems)
        if param is not None:
            params[name] = param
    return params


def _parse_one(name: str, raw: Any, *, where: str, problems: list[str]) -> Param | None:
    kind = HYPERPARAMETERS[name]
    if not isinstance(raw, Mapping):
        raw = {"type": "constant", "values": [raw]}
    dist = raw.get("type")
    allowed = {
        "uniform": {"low", "high"},
        "loguniform": {"low", "high"},
        "int": {"low", "high"},
        "choice": {"values"},
        "constant": {"values"},
    }
    if dist not in allowed:
        problems.append(
            f"{where}: unknown distribution type {dist!r}{suggest(str(dist), DISTRIBUTIONS)}; "
            f"use one of {', '.join(DISTRIBUTIONS)} or a plain value"
        )
        return None
    extra = set(raw) - allowed[dist] - {"type"}
    if extra:
        problems.append(f"{where}: unknown key(s) {sorted(extra)} for a {dist} distribution")
        return None
    if dist in ("choice", "constant"):
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            problems.append(f"{where}: `values` must be a non-empty list")
            return None
        try:
            values = [kind(v) if not isinstance(v, bool) else _bad() for v in values]
        except (TypeError, ValueError):
            problems.append(f"{where}: values {raw.get('values')!r} are not all {kind.__name__}s")
            return None
        return Param(name=name, type=dist, values=tuple(values))
    try:
        low, high = float(raw["low"]), float(raw["high"])
    except (KeyError, TypeError, ValueError):
        problems.append(f"{where}: a {dist} distribution needs numeric `low` and `high`")
        return None
    if not low < high:
        problems.append(f"{where}: low ({low:g}) must be below high ({high:g})")
    elif dist == "loguniform" and low <= 0:
        problems.append(f"{where}: a loguniform distribution needs low > 0 (got {low:g})")
    elif (dist == "int") != (kind is int):
        problems.append(
            f"{where}: `{name}` is {'an integer' if kind is int else 'a real number'}; "
            f"use {'type: int' if kind is int else 'uniform or loguniform'}"
        )
    else:
        return Param(name=name, type=dist, low=low, high=high)
    return None


def _bad() -> Any:
    raise TypeError("booleans are not hyperparameter values")
