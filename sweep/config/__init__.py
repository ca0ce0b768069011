"""What a user wrote: sweep configs as frozen records, and reading them from YAML with overrides.

The lowest layer of ``sweep`` beside ``sweep.storage``: it knows the shape of a config and nothing of
what runs it. A record holds data only; the checks of a record (``sweep.preflight``), the searches it
asks for (``sweep.plan``) and the running study (``sweep.run``) all take one as input.

* ``records``: ``SweepConfig`` and its sections (stages, search, resources, retrieval,
  per-target overrides, tracking, notify);
* ``load``: ``read_config``, a YAML file plus ``key=value`` overrides, its paths resolved;
* ``source``: where a config comes from: a file, a packaged config (``xstilts:studies/xstilts``) or a URI;
* ``parse``: mappings into dataclasses, strictly (unknown keys are problems, with "did you mean");
* ``models``: several models in one study; ``spaces``: named search spaces; ``mixtures``: mixed entries;
* ``model_files``: what a pretrained model's files say, read without loading it.
"""

from sweep import offers

#: What the subpackage offers, each imported on first use (``sweep.offers``).
__getattr__ = offers(
    __name__,
    {
        "ModelEntry": "sweep.config.models",
        "NotifyConfig": "sweep.config.records",
        "PHASES": "sweep.config.records",
        "ResourcesConfig": "sweep.config.records",
        "RetrievalConfig": "sweep.config.records",
        "SearchConfig": "sweep.config.records",
        "SearchSpace": "sweep.config.spaces",
        "StageConfig": "sweep.config.records",
        "SweepConfig": "sweep.config.records",
        "TargetOverrides": "sweep.config.records",
        "TrackingConfig": "sweep.config.records",
        "parse_overrides": "sweep.config.load",
        "read_config": "sweep.config.load",
    },
)
__all__ = [
    "ModelEntry",
    "NotifyConfig",
    "PHASES",
    "ResourcesConfig",
    "RetrievalConfig",
    "SearchConfig",
    "SearchSpace",
    "StageConfig",
    "SweepConfig",
    "TargetOverrides",
    "TrackingConfig",
    "parse_overrides",
    "read_config",
]
