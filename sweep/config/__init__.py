"""What a user wrote: sweep configs as frozen records, and reading them from YAML with overrides.

The lowest layer of ``sweep`` beside ``sweep.storage``: it knows the shape of a config and nothing of
what runs it. A record holds data only; the checks of a record (``sweep.preflight``), the searches it
asks for (``sweep.plan``) and the running study (``sweep.run``) all take one as input.

* ``records``: ``SweepConfig`` and its sections (stages, search, resources, retrieval, per-target overrides);
* ``load``: ``read_config``, a YAML file plus ``key=value`` overrides, its paths resolved;
* ``parse``: mappings into dataclasses, strictly (unknown keys are problems, with "did you mean");
* ``models``: several models in one study; ``spaces``: named search spaces; ``mixtures``: mixed entries;
* ``model_files``: what a pretrained model's files say, read without loading it.
"""

from sweep.config.load import parse_overrides, read_config
from sweep.config.models import ModelEntry
from sweep.config.records import (
    PHASES,
    ResourcesConfig,
    RetrievalConfig,
    SearchConfig,
    StageConfig,
    SweepConfig,
    TargetOverrides,
)
from sweep.config.spaces import SearchSpace

__all__ = [
    "PHASES",
    "ModelEntry",
    "ResourcesConfig",
    "RetrievalConfig",
    "SearchConfig",
    "SearchSpace",
    "StageConfig",
    "SweepConfig",
    "TargetOverrides",
    "parse_overrides",
    "read_config",
]
