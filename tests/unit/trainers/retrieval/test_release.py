"""Reading BUCC 2018, XQuAD-R and Mewsli-X from their release files (fixtures in those formats)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.unit.trainers.retrieval import fixtures as fx
from trainers.data import load_examples, split_paths, write_mirror
from trainers.errors import DataError
from trainers.examples import BitextExample, RankingExample
from trainers.release import bucc_split, lareqa_pool, mewslix_entities, preprocess_entity, preprocess_mention
from trainers.tasks import get_task

BUCC = get_task("bucc2018")
LAREQA_DE_EN = dataclasses.replace(get_task("lareqa"), languages=("de", "en"))
MEWSLIX = get_task("mewslix")


def test_bucc_reads_whole_corpora_and_gold_pairs(tmp_path: Path) -> None:
    fx.write_bucc(tmp_path)
    split = bucc_split(BUCC, language="de", role="dev", data_dir=tmp_path)
    assert split.src_ids == ("de-000000001", "de-000000002", "de-000000003")
    assert split.trg_texts == ("The dog barks.", "The cat sleeps.", "It is raining.")
    assert split.gold == {("de-000000001", "en-000000001"), ("de-000000002", "en-000000002")}
    # Canonical examples are the gold pairs, with both ids (what `sweep score` checks against).
    assert load_examples(BUCC, language="de", role="test", data_dir=tmp_path)[2] == BitextExample(
        id="de-000000103", source="Wir essen Brot.", target="They drink tea.", target_id="en-000000103"
    )


def test_bucc_line_ends_only_at_newline(tmp_path: Path) -> None:
    folder = fx.write_bucc(tmp_path)
    # A U+2028 inside a sentence must not split it (str.splitlines would, shifting every later id).
    (folder / "de-en.dev.de").write_text("de-1\tEins\u2028zwei.\nde-2\tDrei.\n", encoding="utf-8")
    split = bucc_split(BUCC, language="de", role="dev", data_dir=tmp_path)
    assert split.src_ids == ("de-1", "de-2") and split.src_texts[0] == "Eins\u2028zwei."


def test_bucc_missing_and_malformed_files_say_what_to_do(tmp_path: Path) -> None:
    folder = fx.write_bucc(tmp_path)
    with pytest.raises(DataError) as info:
        split_paths(BUCC, language="fr", role="test", data_dir=tmp_path)
    message = str(info.value)
    assert "no test data for task `bucc2018` in `fr`" in message
    assert str(tmp_path / "bucc2018" / "fr-en.test.gold") in message and "keep <lg>-en.test.gold" in message
    (folder / "de-en.test.gold").write_text("de-000000101 en-000000101\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"de-en.test.gold line 1: expected `<de id><TAB><en id>`"):
        bucc_split(BUCC, language="de", role="test", data_dir=tmp_path)
    with pytest.raises(DataError, match="not from the hub"):
        load_examples(BUCC, language="de", role="test", data_dir=None)
    with pytest.raises(DataError, match="no hub copy to mirror"):
        write_mirror(BUCC, out=tmp_path / "mirror")


def test_lareqa_pool_spans_every_language_as_utils_lareqa_builds_it(tmp_path: Path) -> None:
    fx.write_lareqa(tmp_path, ["de", "en"])
    pool = lareqa_pool(LAREQA_DE_EN, data_dir=tmp_path)
    # uid <lang>_<paragraph from 1>_<sentence from 0>; every sentence of a paragraph with a question.
    assert pool.candidate_ids == ("de_1_0", "de_1_1", "de_2_0", "de_2_1", "en_1_0", "en_1_1", "en_2_0", "en_2_1")
    # Candidate text: the sentence, then its paragraph with newlines dropped, nothing between.
    assert pool.candidate_texts[2] == "de beta one.de beta one.de beta two."
    # q4's answer starts on the newline between sentences: the script skips it.
    assert pool.questions["de"] == (
        RankingExample(id="q1", query="de which alpha is one?", relevant=("de_1_0", "en_1_0")),
        RankingExample(id="q2", query="de which alpha is two?", relevant=("de_1_1", "en_1_1")),
        RankingExample(id="q3", query="de which beta is two?", relevant=("de_2_1", "en_2_1")),
    )


def test_lareqa_needs_every_language_file_and_sentence_breaks(tmp_path: Path) -> None:
    folder = fx.write_lareqa(tmp_path, ["de"])
    with pytest.raises(DataError, match=r"no test data for task `lareqa` in `en`: expected .*xquad-r/en.json"):
        lareqa_pool(LAREQA_DE_EN, data_dir=tmp_path)
    (folder / "en.json").write_text('{"data": [{"paragraphs": [{"context": "x.", "qas": []}]}]}', encoding="utf-8")
    with pytest.raises(DataError, match="no sentence_breaks; LAReQA needs XQuAD-R's files"):
        lareqa_pool(LAREQA_DE_EN, data_dir=tmp_path)


def test_mention_query_is_one_sentence_with_the_mention_marked() -> None:
    text = "Berlin ist groß.\nDie Stadt {alt} liegt an der Spree."
    spans = [(0, 16), (17, 52)]
    assert preprocess_mention(text, spans, 0, 6) == "Berlin: { Berlin } ist groß."
    # Braces already in the text are escaped to parentheses; the double space before { is squeezed.
    assert preprocess_mention(text, spans, 46, 51) == "Spree: Die Stadt (alt) liegt an der { Spree } ."
    with pytest.raises(ValueError, match="lies in no single sentence"):
        preprocess_mention(text, spans, 10, 20)
    assert preprocess_entity("A b.\nC\nd.", [(0, 4), (5, 10)]) == "A b. C d."


def test_mewslix_mentions_by_article_language_and_entities_in_file_order(tmp_path: Path) -> None:
    folder = fx.write_mewslix(tmp_path)
    mentions = load_examples(MEWSLIX, language="de", role="test", data_dir=tmp_path)
    assert [(m.id, m.relevant) for m in mentions] == [("m1", ("Q64",)), ("m2", ("Q1684",)), ("m3", ("Q1684",))]
    assert mentions[2].query == "Spree: Die { Spree } fließt."
    assert [m.id for m in load_examples(MEWSLIX, language="en", role="dev", data_dir=tmp_path)] == ["m4"]
    ids, texts = mewslix_entities(MEWSLIX, data_dir=tmp_path)
    assert ids == ["Q64", "Q1684", "Q90", "Q183"] and texts[0] == "Berlin ist die Hauptstadt. Sie ist groß."
    path = folder / "wikinews_mentions-test.jsonl"
    articles = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    articles[0]["context"]["text"] = articles[0]["context"]["text"][1:]
    path.write_text("\n".join(json.dumps(a) for a in articles), encoding="utf-8")
    with pytest.raises(DataError, match=r"mention m1: its text 'Berlin' is not at \[0:6\]"):
        load_examples(MEWSLIX, language="de", role="test", data_dir=tmp_path)
    # The released *_no_text files have empty article text: say how to fill it.
    articles[0]["context"]["text"] = ""
    path.write_text("\n".join(json.dumps(a) for a in articles), encoding="utf-8")
    with pytest.raises(DataError, match=r"line 1 has no article text .*run get-mewsli-x.sh"):
        load_examples(MEWSLIX, language="de", role="test", data_dir=tmp_path)
    (folder / "candidate_set_entities.jsonl").unlink()
    with pytest.raises(DataError, match=r"expected .*candidate_set_entities.jsonl; run get-mewsli-x.sh"):
        split_paths(MEWSLIX, language="ar", role="dev", data_dir=tmp_path)
