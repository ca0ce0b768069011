"""Where a config comes from: a file, a config packaged with xstilts, or a file on shared storage.

- A path (``configs/studies/xstilts.yaml``): paths inside it are relative to its folder.
- A packaged name (``xstilts:studies/xstilts``, ``.yaml`` optional): the configs in the repository's
  ``configs/`` ship in the package as ``xstilts.configs`` (beside the toy data, ``xstilts.data``), so an image
  with only the wheel installed runs them; paths inside resolve against the package, as they resolve against
  ``configs/`` in a checkout. ``packaged_configs()`` lists the names.
- A URI (``s3://bucket/configs/my-study.yaml``): a study changed without rebuilding the image. It has no
  folder for relative paths to start from, so every path in it must be absolute (or a URI), or be set by an
  override on the command line (relative to the shell's folder, as any override).

Example: ``text, base = read_source("xstilts:quickstart")``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sweep.errors import ConfigError
from trainers.fileio import filesystem, is_uri

PREFIX = "xstilts:"
HOW = (
    "a config is a YAML file, a packaged config (xstilts:quickstart, xstilts:studies/xstilts; "
    "`sweep launch --help` names them all) or a file on shared storage (s3://bucket/configs/study.yaml)"
)


def packaged_folder() -> Path | None:
    """The folder of the packaged configs: ``configs/`` of a checkout (an editable install) or
    ``xstilts/configs`` in an installed wheel; None when neither is installed."""
    try:
        spec = importlib.util.find_spec("xstilts.configs")
    except ModuleNotFoundError:
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():  # an editable install also lists its finder's hook, which is no folder
            return Path(location)
    return None


def packaged_configs() -> dict[str, Path]:
    """Every packaged config by its name (``xstilts:studies/xstilts``), sorted."""
    folder = packaged_folder()
    if folder is None:
        return {}
    return {PREFIX + p.relative_to(folder).with_suffix("").as_posix(): p for p in sorted(folder.rglob("*.yaml"))}


def resolve_packaged(spec: str) -> Path:
    """The file of the packaged config ``spec`` (``xstilts:NAME`` or ``xstilts:NAME.yaml``)."""
    name = spec.removeprefix(PREFIX).removesuffix(".yaml").strip("/")
    found = packaged_configs().get(PREFIX + name)
    if found is None:
        known = ", ".join(packaged_configs()) or "none: xstilts is not installed as a package"
        raise ConfigError([f"no packaged config is named `{spec}`; the packaged configs are: {known}"])
    return found


def read_source(spec: str | Path) -> tuple[str, Path | None]:
    """The text of the config ``spec`` names and the folder its relative paths start from (None for a
    config on shared storage, where they have none). A config that cannot be found or read raises
    ConfigError saying which forms a config may take."""
    text = str(spec)
    if text.startswith(PREFIX):
        path = resolve_packaged(text)
        return path.read_text(), path.parent
    if is_uri(text):
        fs, inner = filesystem(text)
        try:
            with fs.open_input_stream(inner) as f:
                return f.read().decode(), None
        except FileNotFoundError as exc:
            raise ConfigError([f"config file {text} does not exist on the shared storage; {HOW}"]) from exc
        except OSError as exc:
            raise ConfigError([f"cannot read the config {text}: {exc}; check the storage's credentials"]) from exc
    path = Path(text)
    if not path.is_file():
        hint = ""
        packaged = PREFIX + Path(text).with_suffix("").as_posix().removeprefix("configs/")
        if packaged in packaged_configs():
            hint = f"; the packaged config of that name is `{packaged}`"
        raise ConfigError([f"config file {path} does not exist{hint}; {HOW}"])
    return path.read_text(), path.resolve().parent


def describe(spec: str | Path) -> str:
    """How a sweep records where its config came from: a URI or packaged name as written, a file's full path."""
    text = str(spec)
    return text if text.startswith(PREFIX) or is_uri(text) else str(Path(text).resolve())


def stem(spec: str | Path) -> str:
    """The config's own name, the sweep's name by default: ``studies/xstilts.yaml`` -> ``xstilts``."""
    return Path(str(spec).removeprefix(PREFIX).rsplit("/", 1)[-1]).stem
