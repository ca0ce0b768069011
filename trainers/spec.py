"""The contract between the sweep driver and one trial, as typed, serialisable dataclasses.

``ModelSpec`` and ``TrainingSpec`` are also the ``model:`` and ``training:`` sections of a
sweep config, so each field is defined once. ``HyperParameters`` are what a search space searches,
with their defaults. A ``TrialSpec`` travels inside the Ray Tune trial config as a plain dict
(``to_dict``/``from_dict``), its ``hparams`` set from the values the searcher chose, and is all a
trial needs to run.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainers.errors import TaskError, suggest

#: The metric every trial reports for its search to maximise: its selection (dev) score.
OBJECTIVE = "objective"
#: What a trial reports, alone, when it failed with an error no retry can fix (a model that cannot be
#: built, a missing file): the error's text. The trial then ends at once as errored (``sweep.trainable``).
FATAL = "fatal_error"
#: How token states become one sentence vector: ``mean`` over real tokens; ``cls``, the first token (an
#: encoder's summary token); ``last``, the last real token (the only one of a decoder that has read the
#: whole sentence).
POOLINGS = ("mean", "cls", "last")


@dataclass(frozen=True, kw_only=True)
class HyperParameters:
    """The values one trial trains with. A search space (``search_spaces/*.yaml``) searches or fixes any
    of them; one it leaves out keeps the default here, the only place defaults are defined."""

    learning_rate: float = 2e-5  # AdamW's peak rate; XLM-R/mBERT fine-tuning lives in 5e-6..5e-5
    weight_decay: float = 0.0  # AdamW's decoupled decay; biases and LayerNorm weights never decay
    warmup_ratio: float = 0.1  # share of the steps that ramp the rate up from 0: BERT's recipe, which keeps
    # Adam's first updates, made from moment estimates of a few batches, from wrecking the pretrained weights
    micro_batch_size: int = 16  # examples per forward pass and worker; fits a base model on one GPU at 128 tokens
    gradient_accumulation_steps: int = 1  # micro-batches per optimizer step; 1 while a batch fits, more
    # for a larger effective batch than memory allows
    dropout: float = 0.1  # hidden and attention dropout, as the encoders were pretrained with
    adam_epsilon: float = 1e-8  # AdamW's default; raise it for bf16/fp16 stability if needed
    # With ``training.adapter``: its rank and scale, searched like any other value (None: the adapter's own)
    lora_r: int | None = None
    lora_alpha: float | None = None

    @classmethod
    def from_search(cls, values: Mapping[str, Any]) -> HyperParameters:
        """The hyperparameters of a trial from the values its search chose: those values, typed, over the
        defaults. Example: ``HyperParameters.from_search({"learning_rate": 1e-3}).warmup_ratio == 0.1``."""
        for name in values:
            if (problem := unknown_hyperparameter(name)) is not None:
                raise TaskError(problem)
        return cls(**{name: HYPERPARAMETERS[name](value) for name, value in values.items()})

    def to_dict(self) -> dict[str, Any]:
        """Every value by name (what the results table records as ``hp_*`` columns)."""
        return dataclasses.asdict(self)


#: Each hyperparameter's type (int or float), by name: what a search space may set.
HYPERPARAMETERS: dict[str, type] = {
    name: next(t for t in typing.get_args(hint) if t is not type(None)) if typing.get_args(hint) else hint
    for name, hint in typing.get_type_hints(HyperParameters).items()
}


#: What ``training.adapter.method`` may be.
ADAPTER_METHODS = ("lora",)


@dataclass(frozen=True, kw_only=True)
class AdapterSpec:
    """Parameter-efficient fine-tuning (``training.adapter``): low-rank adapters (LoRA, through ``peft``)
    on the encoder's linear layers; they and the task heads train, the rest of the model is frozen."""

    method: str = "lora"  # one of ADAPTER_METHODS
    r: int = 16  # the adapters' rank (``hp.lora_r`` overrides it per trial)
    alpha: float = 32.0  # their scale is alpha / r (``hp.lora_alpha`` overrides alpha)
    dropout: float = 0.05  # dropout on the adapters' input
    # Module names (the last part of their names) that get adapters; empty: the family's attention and
    # feed-forward projections (``trainers.adapters.TARGETS``)
    target_modules: tuple[str, ...] = ()


def unknown_hyperparameter(name: str) -> str | None:
    """What is wrong with a hyperparameter name (a search space's, or a trial's), or None if it is known."""
    if name in HYPERPARAMETERS:
        return None
    return f"unknown hyperparameter `{name}`{suggest(name, HYPERPARAMETERS)}; known: {', '.join(HYPERPARAMETERS)}"


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """Which encoder to start from: built from its config (``init: scratch``) or loaded locally."""

    name: str = "tiny-xlmr"
    init: str = "scratch"  # scratch: random weights from the sizes below; pretrained: load `path`
    architecture: str = "xlm-roberta"
    path: str | None = None  # a local model folder, or a hub id already in the local cache
    tokenizer: str | None = None  # tokenizer.json or folder; defaults to `path` for pretrained models
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 128
    max_length: int = 64  # tokens per example after truncation
    max_positions: int | None = None  # a scratch model's position table; None: max_length + 2 (XLM-R's offset)
    seed: int = 0  # initial weights of a scratch model: the same "pretrained" model for every trial
    # auto: flash_attention_2 on GPU workers where flash-attn is installed and the family has it, else sdpa
    # where the family has it, else eager; or one of those by name (trainers.families.attention)
    attn_implementation: str = "auto"


@dataclass(frozen=True, kw_only=True)
class TrainingSpec:
    """How a trial trains: DeepSpeed engine settings and batch sizes that are not searched."""

    precision: str = "fp32"  # fp32 on CPUs (bf16 is 4-5x slower there); bf16 on recent GPUs
    zero_stage: int = 0  # 0 data parallel; 1 shards optimizer state, 2 also gradients, 3 also parameters
    offload_optimizer: bool = False  # optimizer state and step in CPU memory (ZeRO 1-3): fits bigger models
    offload_parameters: bool = False  # parameters in CPU memory between uses (ZeRO-3 only)
    activation_checkpointing: bool = False  # recompute activations in the backward pass: less memory, more compute
    gradient_clipping: float = 1.0
    eval_batch_size: int = 64
    torch_threads: int = 1  # one per trial CPU: more only oversubscribes cores shared by trials
    max_train_examples: int | None = None  # cap for smoke runs; None trains on everything
    max_eval_examples: int | None = None
    eval_every: str | None = None  # "500 steps" (optimizer steps) or "0.25 epochs"; None: at each epoch's end
    eval_dev_examples: int | None = None  # evaluations before the last score dev on its first N examples
    # (jiant uses 500) and skip test; the last scores everything, and only full evaluations are selected
    adapter: AdapterSpec | None = None  # LoRA on a frozen model (None: every weight trains)
    feature_cache: str | None = "default"  # tokenized splits shared by trials; default: $XSTILTS_FEATURE_CACHE
    # or ~/.cache/xstilts/features; None: off


def eval_interval(text: str) -> tuple[str, float]:
    """``("steps", n)`` or ``("epochs", fraction)`` from ``training.eval_every``.

    >>> eval_interval("500 steps"), eval_interval("0.25 epochs")
    (('steps', 500.0), ('epochs', 0.25))
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(steps?|epochs?)\s*", text)
    if not match:
        raise ValueError(
            f"training.eval_every `{text}` is neither `N steps` nor `F epochs`; e.g. `500 steps` or `0.25 epochs`"
        )
    amount, unit = float(match.group(1)), match.group(2).rstrip("s") + "s"
    if unit == "steps" and (amount < 1 or amount != int(amount)):
        raise ValueError(f"training.eval_every `{text}`: a number of steps is a whole number >= 1")
    if unit == "epochs" and not 0 < amount <= 1:
        raise ValueError(f"training.eval_every `{text}`: a fraction of an epoch is in (0, 1]")
    return unit, amount


#: Reported by every evaluation: the objective where dev was scored whole, and a score below any
#: objective where it was capped (``eval_dev_examples``), so Tune keeps the checkpoints selection can pick.
SELECTION = "selection_objective"
CAPPED_SCORE = -1e30
#: The split of dev scores from an evaluation on capped dev sets (``training.eval_dev_examples``).
CAPPED_SPLIT = "dev_capped"


#: ``mnli:dev/en/accuracy``: a mixture's score of one of its tasks (they share languages and metrics).
TASK_MARK = ":"
#: ``7#test/de/accuracy``: a retrieval score at encoder layer 7, besides the chosen layer's (``retrieval.layers``).
LAYER_MARK = "#"

#: How a mixture draws each global micro-batch's source: ``proportional`` to its (capped) size, as
#: concatenating the data would (jiant's default); ``temperature``, proportional to size ** (1 / T), which
#: raises small sources toward uniform as T grows (T = 1 is proportional); ``weights``, fixed weights.
SAMPLINGS = ("proportional", "temperature", "weights")


@dataclass(frozen=True, kw_only=True)
class SourceSpec:
    """One source of an intermediate mixture: a task's training data in some languages, with its head."""

    task: str  # the task whose head it trains and whose dev sets score it
    languages: tuple[str, ...]  # training languages (their training sets concatenated)
    train_task: str  # whose training split (XNLI in English trains on MNLI)
    head: str  # sources naming the same head share it (same kind and labels)
    weight: float | None = None  # sampling: weights
    cap: int | None = None  # sampled as if it had at most this many examples (T5's mixing limit)
    dev_task: str | None = None  # whose dev split selects in these languages; None: the task's own

    @property
    def label(self) -> str:
        """``mnli``, or ``xnli@de`` for a task trained in other languages than its default."""
        return f"{self.task}@{'+'.join(self.languages)}" if self.languages != ("en",) else self.task


@dataclass(frozen=True, kw_only=True)
class MixtureSpec:
    """Several sources trained together on one encoder, each global micro-batch from one source."""

    sources: tuple[SourceSpec, ...]
    sampling: str = "proportional"  # one of SAMPLINGS
    temperature: float = 1.0  # sampling: temperature
    select: str = "mean"  # mean: the mean of the sources' dev scores; or a source task's name

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MixtureSpec:
        """Rebuild a mixture written by ``dataclasses.asdict``."""
        sources = tuple(SourceSpec(**{**s, "languages": tuple(s["languages"])}) for s in data["sources"])
        return cls(**{**data, "sources": sources})


@dataclass(frozen=True, kw_only=True)
class TrialSpec:
    """Everything one trial needs: which task and phase, data, model, training, and its init."""

    sweep: str
    search: str
    phase: str  # "intermediate" or "target"
    task: str  # the task whose head is trained and which is evaluated
    train_languages: tuple[str, ...]  # training sets concatenated; their dev sets select trials
    eval_languages: tuple[str, ...]
    eval_splits: tuple[str, ...]  # roles, e.g. ("dev", "test")
    select_on: str  # english_dev | mean_dev: which dev score is the search objective
    data_dir: str
    epochs: int
    seed: int
    model: ModelSpec
    training: TrainingSpec
    init_encoder: str | None = None  # encoder weights from the best intermediate trial, or None
    train_task: str | None = None  # whose training split; None: the task's default (XNLI trains on MNLI)
    mixture: MixtureSpec | None = None  # several sources at once (``task`` is then the mixture's name)
    hparams: HyperParameters = field(default_factory=HyperParameters)  # this trial's; the search sets them

    @property
    def scores_by_task(self) -> bool:
        """Whether scores name their task (``mnli:dev/en/accuracy``): an intermediate mixture's do, since
        its tasks share languages and metrics; a target's sources (its regime's data) are all one task."""
        return self.mixture is not None and self.phase == "intermediate"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict that ``from_dict`` turns back into an equal spec."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialSpec:
        """Rebuild a spec written by ``to_dict``."""
        data = dict(data)
        if "train_language" in data:  # specs of sweeps launched before multilingual training
            data["train_languages"] = (data.pop("train_language"),)
        data["train_languages"] = tuple(data["train_languages"])
        data["model"] = ModelSpec(**data["model"])
        training = dict(data["training"])
        if isinstance(training.get("adapter"), Mapping):
            adapter = training["adapter"]
            training["adapter"] = AdapterSpec(**{**adapter, "target_modules": tuple(adapter["target_modules"])})
        data["training"] = TrainingSpec(**training)
        data["hparams"] = HyperParameters(**data.get("hparams", {}))
        data["eval_languages"] = tuple(data["eval_languages"])
        data["eval_splits"] = tuple(data["eval_splits"])
        if data.get("mixture") is not None:
            data["mixture"] = MixtureSpec.from_dict(data["mixture"])
        return cls(**data)
