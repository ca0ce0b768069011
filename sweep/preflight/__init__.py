"""Every check before compute is spent: a config against the task registry, the data folder, the model's
files, the memory a worker has and this machine, all problems reported at once (``ConfigError``).

``sweep validate CONFIG`` runs exactly these, with no Ray and no GPU; ``sweep launch`` runs them first.

* ``validate``: ``load_config`` (read, then check) and ``validate`` (check a record already read);
* ``model_checks``: model sizes, precision, ZeRO and a pretrained model's files;
* ``task_checks``: tasks, languages, mixtures, regimes and every data file the sweep reads;
* ``memory``: DeepSpeed's estimate of a worker's model states, and the plans that would fit;
* ``machine``: this machine's CPUs and GPUs, for a sweep that runs here alone.
"""

from sweep import offers

#: What the subpackage offers, each imported on first use (``sweep.offers``).
__getattr__ = offers(
    __name__,
    {
        "load_config": "sweep.preflight.validate",
        "local_problems": "sweep.preflight.validate",
        "validate": "sweep.preflight.validate",
    },
)
__all__ = ["load_config", "local_problems", "validate"]
