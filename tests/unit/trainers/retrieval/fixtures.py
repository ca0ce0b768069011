"""Tiny BUCC 2018, XQuAD-R (LAReQA) and Mewsli-X files in their release formats, for tests.

BUCC (per split): three German and three English sentences; two are translations, the third of each
side has none in dev, and in test the third pair is gold but its sentences were not translated alike
(the embeddings in the tests give them nothing in common). XQuAD-R: per language two paragraphs,
four questions (the fourth's answer starts on the newline between sentences, so utils_lareqa skips
it). Mewsli-X: two German articles (three mentions), one English (one mention), four entities.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

BUCC_DE = {
    "dev": ["Der Hund bellt.", "Die Katze schläft.", "Ein Auto fährt vorbei."],
    "test": ["Das Haus ist alt.", "Der Baum ist grün.", "Wir essen Brot."],
}
BUCC_EN = {
    "dev": ["The dog barks.", "The cat sleeps.", "It is raining."],
    "test": ["The house is old.", "The tree is green.", "They drink tea."],
}


def bucc_ids(side: str, split: str) -> list[str]:
    """Ids as in the release (``de-000000001``), distinct between dev and test."""
    base = 0 if split == "dev" else 100
    return [f"{side}-{base + i:09d}" for i in range(1, 4)]


def write_bucc(root: Path, *, language: str = "de") -> Path:
    """``root/bucc2018/<lg>-en.<split>.<lg|en|gold>``; gold: the first two pairs (dev), all three (test)."""
    folder = root / "bucc2018"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("dev", "test"):
        src, trg = bucc_ids(language, split), bucc_ids("en", split)
        lines = {
            language: [f"{i}\t{t}" for i, t in zip(src, BUCC_DE[split], strict=True)],
            "en": [f"{i}\t{t}" for i, t in zip(trg, BUCC_EN[split], strict=True)],
            "gold": [f"{s}\t{t}" for s, t in list(zip(src, trg, strict=True))[: 2 if split == "dev" else 3]],
        }
        for side, rows in lines.items():
            (folder / f"{language}-en.{split}.{side}").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def _paragraph(context: str, qas: list[tuple[str, str, int, str]]) -> dict:
    starts = [0] + [i + 1 for i, c in enumerate(context) if c == "\n" or (c == " " and context[i - 1] == ".")]
    ends = [i for i, c in enumerate(context) if c == "."]
    breaks = [[s, e + 1] for s, e in zip(starts, ends, strict=True)]
    return {
        "context": context,
        "qas": [
            {"answers": [{"answer_start": start, "text": text}], "id": qid, "question": question}
            for qid, question, start, text in qas
        ],
        "sentence_breaks": breaks,
        "sentences": [context[s:e] for s, e in breaks],
    }


def write_lareqa(root: Path, languages: Sequence[str]) -> Path:
    """``root/lareqa/xquad-r/<lang>.json``: the same questions (ids q1-q4) in every language."""
    folder = root / "lareqa" / "xquad-r"
    folder.mkdir(parents=True, exist_ok=True)
    for lang in languages:
        first = f"{lang} alpha one. {lang} alpha two."
        second = f"{lang} beta one.\n{lang} beta two."
        paragraphs = [
            _paragraph(
                first,
                [
                    ("q1", f"{lang} which alpha is one?", first.index("one"), "one"),
                    ("q2", f"{lang} which alpha is two?", first.index("two"), "two"),
                ],
            ),
            _paragraph(
                second,
                [
                    ("q3", f"{lang} which beta is two?", second.index("two"), "two"),
                    ("q4", f"{lang} what is between?", second.index("\n"), "\n"),
                ],
            ),
        ]
        data = {"data": [{"title": "Fixture", "paragraphs": paragraphs}], "version": "1.1"}
        (folder / f"{lang}.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return folder


MEWSLIX_ARTICLES = [
    (
        "de",
        "Berlin ist groß.\nDie Stadt {alt} liegt an der Spree.",
        [("m1", "Berlin", "Q64"), ("m2", "Spree", "Q1684")],
    ),
    ("en", "Paris is in France.", [("m4", "Paris", "Q90")]),
    ("de", "Die Spree fließt.", [("m3", "Spree", "Q1684")]),
]
MEWSLIX_ENTITIES = [
    ("Q64", "Berlin", "Berlin ist die Hauptstadt.\nSie ist groß."),
    ("Q1684", "Spree", "The Spree is a river."),
    ("Q90", "Paris", "Paris est la capitale de la France."),
    ("Q183", "Germany", "Germany is a country. It is in Europe."),
]


def _sentence_spans(text: str) -> list[dict]:
    spans, start = [], 0
    for i, c in enumerate(text):
        if c == ".":
            spans.append({"start": start, "end": i + 1})
            start = i + 2
    return spans


def write_mewslix(root: Path) -> Path:
    """``root/mewslix/``: ``wikinews_mentions-{dev,test}.jsonl`` and ``candidate_set_entities.jsonl``."""
    folder = root / "mewslix"
    folder.mkdir(parents=True, exist_ok=True)
    for split, articles in (("test", MEWSLIX_ARTICLES), ("dev", MEWSLIX_ARTICLES[1:2])):
        rows = []
        for n, (lang, text, mentions) in enumerate(articles, start=1):
            context = {
                "document_title": f"Article {n}",
                "document_url": f"https://{lang}.wikinews.org/wiki/{n}",
                "document_id": f"{lang}-{n}",
                "language": lang,
                "text": text,
                "sentence_spans": _sentence_spans(text),
            }
            found = [
                {
                    "example_id": mid,
                    "mention_span": {
                        "start": text.index(surface),
                        "end": text.index(surface) + len(surface),
                        "text": surface,
                    },
                    "entity_id": qid,
                }
                for mid, surface, qid in mentions
            ]
            rows.append(json.dumps({"context": context, "mentions": found}, ensure_ascii=False))
        (folder / f"wikinews_mentions-{split}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    entities = [
        json.dumps(
            {
                "entity_id": qid,
                "title": title,
                "description": description,
                "description_language": "de",
                "description_url": f"https://de.wikipedia.org/wiki/{title}",
                "sentence_spans": _sentence_spans(description),
            },
            ensure_ascii=False,
        )
        for qid, title, description in MEWSLIX_ENTITIES
    ]
    (folder / "candidate_set_entities.jsonl").write_text("\n".join(entities) + "\n", encoding="utf-8")
    return folder
