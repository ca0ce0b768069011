"""Retrieval data that lives in the benchmarks' own release files: BUCC 2018, LAReQA, Mewsli-X.

The hub has no copy that can be evaluated officially (its ``bucc18`` configs hold only the gold pairs,
without ids; its ``xquad_r`` drops the sentence breaks), so these tasks read the layout that XTREME's
and XTREME-R's download scripts write under ``data_dir`` (a task's ``Source.files``):

- ``bucc2018/<lg>-en.<dev|test>.<lg|en>``: ``id<TAB>sentence`` lines, the whole monolingual corpora;
  ``bucc2018/<lg>-en.<dev|test>.gold``: ``<lg> id<TAB>en id`` lines (XTREME's dev is the release's
  ``sample``, its test the release's ``training`` set).
- ``lareqa/xquad-r/<lang>.json``: SQuAD v1.1 JSON whose paragraphs carry ``sentence_breaks``.
- ``mewslix/wikinews_mentions-<dev|test>.jsonl`` (one article and its mentions per line) and
  ``mewslix/candidate_set_entities.jsonl`` (one entity per line).

:func:`read_official` gives canonical examples (what ``sweep data inspect`` shows and ``sweep score``
scores against); the evaluators in ``trainers.retrieval.evaluators`` use the fuller views below.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainers.errors import DataError
from trainers.examples import BitextExample, RankingExample
from trainers.fileio import read_records

if TYPE_CHECKING:
    from trainers.tasks import Task


def official_paths(task: Task, *, language: str, role: str, data_dir: Path | None) -> list[Path]:
    """The release files holding ``task``'s ``role`` split in ``language``; a DataError names any missing."""
    source = task.source
    task.check_language(language)
    if data_dir is None:
        raise DataError(
            f"task `{task.name}` is read from its release files under data_dir, not from the hub: {source.obtain}"
        )
    if role not in source.splits:
        raise DataError(f"task `{task.name}` has no {role} split (it has: {', '.join(source.splits)})")
    split = source.splits[role]
    paths = [Path(data_dir) / t.format(lang=language, code=source.code(language), split=split) for t in source.files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DataError(
            f"no {role} data for task `{task.name}` in `{language}`: expected {' and '.join(missing)}; {source.obtain}"
        )
    return paths


# ------------------------------------------------------------------------------------------ BUCC


@dataclass(frozen=True)
class BuccSplit:
    """One BUCC split of one language pair: both corpora (ids and sentences, file order) and the gold pairs."""

    src_ids: tuple[str, ...]  # the non-English side
    src_texts: tuple[str, ...]
    trg_ids: tuple[str, ...]  # English
    trg_texts: tuple[str, ...]
    gold: frozenset[tuple[str, str]]


def bucc_split(task: Task, *, language: str, role: str, data_dir: Path | None) -> BuccSplit:
    """Read ``<lg>-en.<role>.{<lg>,en,gold}``, as XTREME's ``run_bucc2018.sh`` splits them (``cut -f1/-f2``)."""
    src, trg, gold = official_paths(task, language=language, role=role, data_dir=data_dir)
    src_ids, src_texts = _id_lines(src)
    trg_ids, trg_texts = _id_lines(trg)
    if not src_ids or not trg_ids:
        raise DataError(f"{src if not src_ids else trg} holds no sentences; BUCC mines the whole corpus")
    pairs = set()
    for number, line in enumerate(_lines(gold), start=1):
        fields = tuple(line.strip().split("\t"))
        if len(fields) != 2:
            raise DataError(f"{gold} line {number}: expected `<{language} id><TAB><en id>`, got {line!r}")
        pairs.add(fields)
    if not pairs:
        raise DataError(f"{gold} holds no gold pairs; BUCC's threshold and scores need them")
    return BuccSplit(src_ids=src_ids, src_texts=src_texts, trg_ids=trg_ids, trg_texts=trg_texts, gold=frozenset(pairs))


def _lines(path: Path) -> list[str]:
    # Only "\n" ends a line, as for `cut` and the scripts: str.splitlines would also split at
    # \r, \x85 or \u2028 inside a sentence and shift every id after it.
    text = path.read_bytes().decode("utf-8")
    return [line for line in text.split("\n") if line.strip()]


def _id_lines(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    ids, texts = [], []
    for number, line in enumerate(_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(f"{path} line {number}: expected `id<TAB>sentence`, got {line[:80]!r}")
        ids.append(fields[0].strip())
        texts.append(fields[1])
    return tuple(ids), tuple(texts)


# ---------------------------------------------------------------------------------------- LAReQA


@dataclass(frozen=True)
class LareqaPool:
    """XQuAD-R as XTREME-R's ``utils_lareqa.load_data`` builds it: questions per language, and one pool
    of candidate sentences from every language (uid ``<lang>_<paragraph>_<sentence>``)."""

    questions: dict[str, tuple[RankingExample, ...]]  # relevant: the answer sentence's uid in every language
    candidate_ids: tuple[str, ...]
    candidate_texts: tuple[str, ...]  # sentence + paragraph, newlines removed (evaluate_retrieval.py)


def lareqa_pool(task: Task, *, data_dir: Path | None, role: str = "test") -> LareqaPool:
    """Read every language's ``xquad-r/<lang>.json``: the pool always spans all of the task's languages."""
    index: dict[str, int] = {}
    texts: list[str] = []
    answers: dict[str, list[str]] = {}  # xling id (a question's id in every language) -> candidate uids
    asked: dict[str, list[tuple[str, str]]] = {}
    for language in task.languages:
        (path,) = official_paths(task, language=language, role=role, data_dir=data_dir)
        asked[language] = []
        for qid, question, context, sentences, answer, context_id in _squad_sentences(path, language):
            asked[language].append((qid, question))
            for position, sentence in enumerate(sentences):
                uid = f"{context_id}_{position}"
                if uid not in index:
                    index[uid] = len(texts)
                    texts.append((sentence + context).replace("\n", "").strip())
                if sentence == answer:
                    answers.setdefault(qid, []).append(uid)
    questions = {
        language: tuple(RankingExample(id=qid, query=text, relevant=tuple(answers[qid])) for qid, text in pairs)
        for language, pairs in asked.items()
    }
    return LareqaPool(questions=questions, candidate_ids=tuple(index), candidate_texts=tuple(texts))


def _squad_sentences(path: Path, language: str) -> Iterator[tuple[str, str, str, list[str], str, str]]:
    """``utils_lareqa.generate_examples``: (question id, question, paragraph, its sentences, the answer's
    sentence, paragraph id) for every question whose answer starts inside a sentence (others are skipped)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        paragraphs = [p for article in data["data"] for p in article["paragraphs"]]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not SQuAD-format JSON with data/paragraphs ({exc})") from exc
    for number, paragraph in enumerate(paragraphs, start=1):
        where = f"{path} paragraph {number}"
        if "sentence_breaks" not in paragraph:
            raise DataError(f"{where} has no sentence_breaks; LAReQA needs XQuAD-R's files, not XQuAD's")
        try:
            context = paragraph["context"]
            breaks = [(int(start), int(end)) for start, end in paragraph["sentence_breaks"]]
            questions = [(qa["id"], qa["question"], qa["answers"]) for qa in paragraph["qas"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{where} is not a SQuAD paragraph with sentence breaks ({exc})") from exc
        sentences = [context[start:end] for start, end in breaks]
        for qid, question, answers in questions:
            if len(answers) != 1:
                raise DataError(f"{where} question {qid}: expected one answer, got {len(answers)}")
            start = answers[0]["answer_start"]
            answer = next((context[s:e] for s, e in breaks if s <= start < e), None)
            if answer:  # the script skips (and warns of) an answer outside every sentence
                yield qid, question.replace("\n", " ").strip(), context, sentences, answer, f"{language}_{number}"


# -------------------------------------------------------------------------------------- Mewsli-X

# A mention is marked with these in its context; existing {...} are escaped to (...) (utils_mewslix).
_MARKED = re.compile(r"\{(.*?)\}")


def preprocess_mention(text: str, sentence_spans: Sequence[tuple[int, int]], start: int, end: int) -> str:
    """``utils_mewslix.preprocess_mention``: the mention, a colon, and the one sentence holding it with
    the mention in braces, newlines and double spaces normalised.

    >>> preprocess_mention("Hi. Berlin is big.", [(0, 3), (4, 18)], 4, 10)
    'Berlin: { Berlin } is big.'
    """
    focus = next(((s, e) for s, e in sentence_spans if s <= start < e and s < end <= e), None)
    if focus is None:
        raise ValueError(f"mention [{start}:{end}] lies in no single sentence of {list(sentence_spans)}")
    mention = text[start:end]
    left = _MARKED.sub(r"(\1)", text[focus[0] : start])
    right = _MARKED.sub(r"(\1)", text[end : focus[1]])
    query = f"{mention}: {left} {{ {mention} }} {right}"
    return " ".join(query.splitlines()).replace("  ", " ").strip()


def preprocess_entity(description: str, sentence_spans: Sequence[tuple[int, int]]) -> str:
    """``utils_mewslix.preprocess_entity_description``: the description's sentences joined, normalised.

    >>> preprocess_entity("Berlin is a city.\\nIt is big.", [(0, 17), (18, 28)])
    'Berlin is a city. It is big.'
    """
    text = " ".join(description[s:e] for s, e in sentence_spans)
    return " ".join(text.splitlines()).replace("  ", " ").strip()


def mewslix_mentions(task: Task, *, language: str, role: str, data_dir: Path | None) -> list[RankingExample]:
    """The mentions in ``language``'s WikiNews articles, as queries with their gold entity id."""
    path = official_paths(task, language=language, role=role, data_dir=data_dir)[0]
    out = []
    for number, record in enumerate(read_records(path), start=1):
        where = f"{path} line {number}"
        try:
            if record["context"]["language"] == language:
                out.extend(_article_mentions(record, where=where, obtain=task.source.obtain))
        except (KeyError, TypeError) as exc:
            raise DataError(f"{where} is not a Mewsli-X article with mentions (no field {exc})") from exc
    return out


def _article_mentions(record: dict[str, Any], *, where: str, obtain: str) -> list[RankingExample]:
    text = record["context"]["text"]
    if not text:
        raise DataError(f"{where} has no article text (a *_no_text file?); {obtain}")
    spans = [(s["start"], s["end"]) for s in record["context"]["sentence_spans"]]
    out = []
    for mention in record["mentions"]:
        span, here = mention["mention_span"], f"{where} mention {mention['example_id']}"
        if text[span["start"] : span["end"]] != span["text"]:
            raise DataError(f"{here}: its text {span['text']!r} is not at [{span['start']}:{span['end']}]")
        try:
            query = preprocess_mention(text, spans, span["start"], span["end"])
        except ValueError as exc:
            raise DataError(f"{here}: {exc}") from exc
        out.append(RankingExample(id=mention["example_id"], query=query, relevant=(mention["entity_id"].strip(),)))
    return out


def mewslix_entities(task: Task, *, data_dir: Path | None, role: str = "test") -> tuple[list[str], list[str]]:
    """Entity ids and their description texts, in ``candidate_set_entities.jsonl``'s order."""
    path = official_paths(task, language=task.languages[0], role=role, data_dir=data_dir)[1]
    ids, texts = [], []
    for number, record in enumerate(read_records(path), start=1):
        try:
            spans = [(s["start"], s["end"]) for s in record["sentence_spans"]]
            texts.append(preprocess_entity(record["description"], spans))
            ids.append(record["entity_id"])
        except (KeyError, TypeError) as exc:
            raise DataError(f"{path} line {number} is not a Mewsli-X entity (no field {exc})") from exc
    return ids, texts


# ------------------------------------------------------------------------------- canonical examples


def _bucc_gold(task: Task, *, language: str, role: str, data_dir: Path | None) -> list[BitextExample]:
    split = bucc_split(task, language=language, role=role, data_dir=data_dir)
    src, trg = (
        dict(zip(split.src_ids, split.src_texts, strict=True)),
        dict(zip(split.trg_ids, split.trg_texts, strict=True)),
    )
    return [
        BitextExample(id=s, source=src.get(s, ""), target=trg.get(t, ""), target_id=t) for s, t in sorted(split.gold)
    ]


def _lareqa_questions(task: Task, *, language: str, role: str, data_dir: Path | None) -> list[RankingExample]:
    task.check_language(language)
    return list(lareqa_pool(task, data_dir=data_dir, role=role).questions[language])


OFFICIAL_READERS: dict[str, Callable[..., list[Any]]] = {
    "bucc_files": _bucc_gold,  # the gold pairs (the evaluator mines the whole corpora)
    "lareqa_files": _lareqa_questions,
    "mewslix_files": mewslix_mentions,
}


def read_official(task: Task, *, language: str, role: str, data_dir: Path | None) -> list[Any]:
    """Canonical examples of a release-file task: BUCC's gold pairs as BitextExample (``target_id`` set),
    LAReQA's questions and Mewsli-X's mentions as RankingExample."""
    return OFFICIAL_READERS[task.source.reader](task, language=language, role=role, data_dir=data_dir)
