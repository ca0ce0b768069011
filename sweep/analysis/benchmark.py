"""XTREME and XTREME-R benchmark scores, computed as google-research/xtreme's ``evaluate.py`` computes them.

Per task: the unweighted mean over the version's languages of the task's headline metric, and only when
every one of those languages has a score (``evaluate.py`` stops on a missing file). QA tasks' headline is
(EM + F1) / 2; the others' F1, accuracy or mAP@20. A group's score is the mean of its tasks' scores, given
only when all of them are there; the overall score is the mean over all tasks, given only when every task is.

Where XTREME-R's published rules are quirky (``evaluate.py`` @838c13b), xstilts follows them and says so:

* XCOPA is in two groups, ``classification`` and ``multi_choice``: it counts in both group scores.
* LAReQA is in no group, and ``evaluate.py`` lists no languages for it, so that script never scores it and,
  as it requires every task for the overall score, never gives an XTREME-R overall score. xstilts scores
  LAReQA (mAP@20 over XQuAD-R's 11 languages, as the XTREME-R paper does) and gives the overall score when
  all ten tasks are there; it keeps LAReQA out of every group, as ``evaluate.py`` does.

Scores are fractions (0-1), as every xstilts table holds them; ``evaluate.py`` prints them times 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweep.errors import XStiltsError, suggest

GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    "xtreme": {
        "classification": ("pawsx", "xnli"),
        "tagging": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("bucc2018", "tatoeba"),
    },
    "xtreme-r": {
        "classification": ("xnli", "xcopa"),
        "tagging": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("tatoeba", "mewslix"),
        "multi_choice": ("xcopa",),
    },
}


def _langs(text: str) -> tuple[str, ...]:
    return tuple(text.split(","))


_PANX = (
    "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,"
    "tr,et,fi,hu"
)
_UDPOS = "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh"
_TATOEBA = "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu"
_XNLI = "ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh"
_XQUAD = "en,es,de,el,ru,tr,ar,vi,th,zh,hi"
_MLQA = "en,es,de,ar,hi,vi,zh"
_TYDIQA = "en,ar,bn,fi,id,ko,ru,sw,te"

#: Each version's tasks and the languages its score averages over (evaluate.py's TASK2LANGS).
LANGUAGES: dict[str, dict[str, tuple[str, ...]]] = {
    "xtreme": {
        "pawsx": _langs("de,en,es,fr,ja,ko,zh"),
        "xnli": _langs(_XNLI),
        "panx": _langs(_PANX),
        "udpos": _langs(_UDPOS),
        "bucc2018": _langs("de,fr,ru,zh"),
        "tatoeba": _langs(_TATOEBA),
        "xquad": _langs(_XQUAD),
        "mlqa": _langs(_MLQA),
        "tydiqa": _langs(_TYDIQA),
    },
    "xtreme-r": {
        "xnli": _langs(_XNLI),
        "panx": _langs(_PANX + ",qu,pl,uk,az,lt,pa,gu,ro"),
        "udpos": _langs(_UDPOS + ",lt,pl,uk,wo,ro"),
        "tatoeba": _langs(_TATOEBA + ",az,lt,pl,uk,ro"),
        "xcopa": _langs("et,ht,id,it,qu,sw,ta,th,tr,vi,zh"),
        "lareqa": _langs("ar,de,el,en,es,hi,ru,th,tr,vi,zh"),  # evaluate.py lists none: see the module doc
        "mewslix": _langs("ar,de,en,es,fa,ja,pl,ro,ta,tr,uk"),
        "xquad": _langs(_XQUAD + ",ro"),
        "mlqa": _langs(_MLQA),
        "tydiqa": _langs(_TYDIQA),
    },
}
VERSIONS = tuple(GROUPS)


def task_groups(version: str) -> dict[str, tuple[str, ...]]:
    """Each task of ``version`` and the groups it is in (XCOPA two in XTREME-R, LAReQA none)."""
    check_version(version)
    return {task: tuple(g for g, tasks in GROUPS[version].items() if task in tasks) for task in LANGUAGES[version]}


def check_version(version: str) -> None:
    """Refuse an unknown benchmark version, naming the known ones."""
    if version not in GROUPS:
        raise XStiltsError(f"unknown benchmark `{version}`{suggest(version, VERSIONS)}; use {' or '.join(VERSIONS)}")


def benchmark_scores(per_language: Mapping[str, Mapping[str, float]], *, version: str) -> dict[str, Any]:
    """One system's benchmark scores from its per-task, per-language headline scores.

    Returns ``{"tasks": {task: score or None}, "groups": {group: score or None}, "overall": score or None,
    "missing": {task: [languages]}}``; a task of the version with no scores at all is missing whole.

    Example::

        benchmark_scores({"xnli": {"en": 0.8, ...}}, version="xtreme")["tasks"]["xnli"]
    """
    check_version(version)
    tasks: dict[str, float | None] = {}
    missing: dict[str, list[str]] = {}
    for task, languages in LANGUAGES[version].items():
        scores = per_language.get(task, {})
        absent = [lang for lang in languages if scores.get(lang) is None]
        if absent:
            missing[task] = absent
            tasks[task] = None
        else:
            tasks[task] = sum(scores[lang] for lang in languages) / len(languages)
    groups = {
        group: (None if any(tasks[t] is None for t in members) else sum(tasks[t] for t in members) / len(members))
        for group, members in GROUPS[version].items()
    }
    complete = all(score is not None for score in tasks.values())
    overall = sum(tasks.values()) / len(tasks) if complete else None  # type: ignore[arg-type]
    return {"tasks": tasks, "groups": groups, "overall": overall, "missing": missing}
