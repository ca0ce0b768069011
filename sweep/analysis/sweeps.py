"""Opening the sweeps a query reads: each folder or URI checked to hold a sweep, its manifest and config read
once, into the record (``SweepInfo``) that the SQL views (``sweep.analysis.tables``) and the small tables about
the sweeps (``sweep.analysis.catalog``) both take.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweep.errors import SweepStateError, XStiltsError
from sweep.storage.layout import open_sweep, read_manifest
from trainers.fileio import is_uri


class QueryError(XStiltsError):
    """A query names an unknown column, sweep or view, or is not valid SQL."""


@dataclass(frozen=True)
class SweepInfo:
    """One opened sweep: its name, where it was asked for, its local folder, manifest and config."""

    name: str
    location: str
    root: Path
    manifest: dict[str, Any]
    config: dict[str, Any]
    folder: Any = None  # its sweep.storage.layout.SweepDir (checkpoints, for the bootstrap's predictions)


def open_sweeps(locations: Sequence[str | Path]) -> list[SweepInfo]:
    """Open each sweep folder or URI; refuse a location that holds no sweep, naming the sweeps beside it."""
    import yaml

    if not locations:
        raise QueryError("name at least one sweep directory (or a URI such as s3://bucket/sweeps/NAME)")
    out: list[SweepInfo] = []
    seen: dict[str, str] = {}
    for location in dict.fromkeys(str(loc) for loc in locations):
        folder = open_sweep(location)
        if not folder.manifest.is_file():
            raise QueryError(_no_sweep(location, uri=is_uri(location)))
        manifest = read_manifest(folder)
        name = manifest["name"]
        if name in seen:
            raise QueryError(
                f"two sweeps are named {name!r} ({seen[name]} and {location}); their rows could not be told "
                "apart: query them separately"
            )
        seen[name] = location
        try:
            config = yaml.safe_load(folder.config.read_text()) if folder.config.is_file() else {}
        except yaml.YAMLError as exc:
            problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
            raise SweepStateError(
                f"{location}: its config.yaml is damaged (not valid YAML: {problem}); restore it from a backup, or "
                "write the config the sweep was launched with there again"
            ) from exc
        out.append(
            SweepInfo(name=name, location=location, root=folder.root, manifest=manifest, config=config, folder=folder)
        )
    return out


def _no_sweep(location: str, *, uri: bool) -> str:
    text = f"no sweep at {location}: it has no manifest.json"
    if not uri and Path(location).is_dir():
        inside = sorted(p.parent.name for p in Path(location).glob("*/manifest.json"))
        if inside:
            shown = ", ".join(inside[:10]) + (", ..." if len(inside) > 10 else "")
            return f"{text}; it holds the sweeps {shown}: name them (e.g. {location.rstrip('/')}/{inside[0]})"
    elif not uri:
        text = f"no sweep at {location}: there is no such folder"
    return text + "; name a sweep's own folder (the one `sweep launch` printed)"
