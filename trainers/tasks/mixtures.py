"""Registered intermediate mixtures: several tasks trained together as one intermediate entry.

A mixture lists task references (``mnli``, ``xnli@de``) and, optionally, a head its sources share
(tasks of one kind and label set, as ANLI+ trains SNLI, MNLI and ANLI as one NLI task). Configs name
a registered mixture in ``intermediate_tasks`` like a task, or define their own under ``mixtures:``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Mixture:
    """A named mixture of task references."""

    name: str
    sources: tuple[str, ...]  # task references, or other registered mixtures (their sources, heads kept)
    head: str | None = None  # every source shares this head; None: one head per task
    sampling: str = "proportional"  # trainers.spec.SAMPLINGS
    temperature: float = 1.0
    select: str = "mean"  # mean of the sources' dev scores, or one source task's
    description: str = ""


MIXTURES = (
    Mixture(
        name="anli_plus",
        sources=("snli", "mnli", "anli"),
        head="nli",
        select="anli",
        description=(
            "ANLI+ as X-STILTs trains it (after Nie et al. 2020): SNLI, MNLI and ANLI rounds 1-3 with one NLI "
            "head, sampled in proportion to size as their concatenation would be; selected on ANLI's dev set, "
            "the adversarial one the combination is trained for."
        ),
    ),
    Mixture(
        name="xstilts_all",
        sources=("anli_plus", "qqp", "squad", "squad_v2", "hellaswag", "ccg", "cosmos_qa", "commonsense_qa"),
        description=(
            "The X-STILTs multi-task mixture of all nine intermediate tasks. MNLI is both one of the nine and "
            "part of ANLI+; it is one source here, on ANLI+'s NLI head. Sampled in proportion to size (jiant's "
            "default); selected on the mean of the sources' dev scores."
        ),
    ),
)
