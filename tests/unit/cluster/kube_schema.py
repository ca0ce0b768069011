"""KubeRay's CRDs as the Kubernetes API server applies them, in a form a JSON-Schema validator takes.

A CRD's ``openAPIV3Schema`` is Kubernetes' structural OpenAPI: an object's unknown fields are errors (what
``kubectl apply`` does by default) unless ``x-kubernetes-preserve-unknown-fields`` says otherwise, ``nullable``
admits null, and ``x-kubernetes-validations`` are CEL rules that only the API server evaluates. ``validator``
translates the first two; ``cel_paths`` lists where the third apply, so that a test can require a manifest to
set none of those fields rather than pretend to check them.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml


@functools.cache
def crd_schema(path: Path, version: str = "v1") -> dict[str, Any]:
    """The ``openAPIV3Schema`` of ``version`` in the CRD file ``path`` (read once: a CRD is a megabyte)."""
    crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return served["schema"]["openAPIV3Schema"]


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if k != "x-kubernetes-validations"}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False  # pruning: a field the schema does not name is rejected
    return out


def validator(path: Path) -> jsonschema.protocols.Validator:
    """A validator of manifests against the CRD in ``path``, unknown fields rejected."""
    schema = _strict(crd_schema(path))
    return jsonschema.Draft7Validator(schema)


def cel_paths(path: Path) -> list[tuple[str, ...]]:
    """The field paths (``("spec", "managedBy")``) that carry CEL rules in the CRD in ``path``."""
    found: list[tuple[str, ...]] = []

    def walk(node: Any, at: tuple[str, ...]) -> None:
        if not isinstance(node, dict):
            return
        if "x-kubernetes-validations" in node:
            found.append(at)
        for name, child in node.get("properties", {}).items():
            walk(child, (*at, name))
        if isinstance(node.get("items"), dict):
            walk(node["items"], (*at, "[]"))

    walk(crd_schema(path), ())
    return found


def has_path(manifest: Any, at: tuple[str, ...]) -> bool:
    """Whether ``manifest`` sets the field at ``at`` (``"[]"`` for any item of a list)."""
    if not at:
        return True
    if isinstance(manifest, list) and at[0] == "[]":
        return any(has_path(item, at[1:]) for item in manifest)
    return isinstance(manifest, dict) and at[0] in manifest and has_path(manifest[at[0]], at[1:])
