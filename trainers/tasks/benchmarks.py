"""The XTREME / XTREME-R target tasks and the English intermediate tasks of the X-STILTs study.

Languages are XTREME's (ISO 639-1) codes; each source maps them to the hub's config names.
The first source of a task is its default; further sources are the same data in another
published schema (a local mirror may hold either).
"""

from __future__ import annotations

from trainers.languages import LANGUAGES
from trainers.tasks.records import RegimeData, Source, Task

XT = "google/xtreme"
NLI = ("entailment", "neutral", "contradiction")
UPOS = (
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
)
NER = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
TRAIN_DEV_TEST = {"train": "train", "dev": "validation", "test": "test"}
TRAIN_DEV = {"train": "train", "dev": "validation"}


def _langs(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _own_data(regime: str, task: str, languages: tuple[str, ...], *, drop: tuple[str, ...] = ("en",)) -> RegimeData:
    """A regime whose data is ``task``'s own training and dev splits in each of ``languages`` but ``drop``
    (English: zero-shot's)."""
    kept = tuple(lang for lang in languages if lang not in drop)
    return RegimeData(regime=regime, train_task=task, dev_task=task, languages=kept)


def _choices(n: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(n))


XNLI_LANGS = _langs("ar bg de el en es fr hi ru sw th tr ur vi zh")
PAWSX_LANGS = _langs("de en es fr ja ko zh")
XCOPA_LANGS = _langs("et ht id it qu sw ta th tr vi zh")
UDPOS_LANGS = _langs(
    "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi wo yo zh"
)
PANX_LANGS = _langs(
    "af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms my nl pt ru "
    "sw ta te th tl tr ur vi yo zh"
)
XQUAD_LANGS = _langs("ar de el en es hi ro ru th tr vi zh")
MLQA_LANGS = _langs("ar de en es hi vi zh")
MLQA_TRANSLATE_LANGS = _langs("ar de es hi vi zh")  # English is SQuAD itself
TYDIQA_LANGS = _langs("ar bn en fi id ko ru sw te")
BUCC_LANGS = _langs("de fr ru zh")
LAREQA_LANGS = _langs("ar de el en es hi ru th tr vi zh")  # XQuAD-R, 11-way parallel
MEWSLIX_LANGS = _langs("ar de en es fa ja pl ro ta tr uk")  # utils_mewslix.MENTION_LANGUAGES
BUCC_OBTAIN = (
    "lay out the BUCC 2018 release as XTREME's scripts/download_data.sh does (its `sample` files renamed dev, "
    "`training` renamed test), but keep <lg>-en.test.gold, which that script deletes; the hub's bucc18 "
    "configs hold only the gold pairs, without ids, and cannot be mined"
)
LAREQA_OBTAIN = (
    "copy xquad-r/<lang>.json from github.com/google-research-datasets/lareqa (XTREME-R's "
    "scripts/download_lareqa_data.sh puts them in lareqa/); the hub's xquad_r has no sentence breaks"
)
MEWSLIX_OBTAIN = (
    "run get-mewsli-x.sh of google-research/google-research dense_representations_for_entity_retrieval/mel "
    "(XTREME-R's scripts/download_mewslix_data.sh moves its output to mewslix/); the *_no_text files lack "
    "the article text"
)
TATOEBA_CODES = dict(
    pair.split(":")
    for pair in (
        "af:afr ar:ara bg:bul bn:ben de:deu el:ell es:spa et:est eu:eus fa:pes fi:fin fr:fra he:heb hi:hin hu:hun "
        "id:ind it:ita ja:jpn jv:jav ka:kat kk:kaz ko:kor ml:mal mr:mar nl:nld pt:por ru:rus sw:swh ta:tam te:tel "
        "th:tha tl:tgl tr:tur ur:urd vi:vie zh:cmn"
    ).split()
)
TYDIQA_CODES = {
    "ar": "arabic",
    "bn": "bengali",
    "en": "english",
    "fi": "finnish",
    "id": "indonesian",
    "ko": "korean",
    "ru": "russian",
    "sw": "swahili",
    "te": "telugu",
}

BENCHMARK_TASKS = (
    # ---- XTREME / XTREME-R targets ----
    Task(
        name="xnli",
        kind="classification",
        labels=NLI,
        metric="accuracy",
        scorer="accuracy",
        languages=XNLI_LANGS,
        train_task="mnli",
        benchmark="xtreme",
        sources=(
            Source(hub="facebook/xnli", config="{lang}", mirror="xnli.{lang}", reader="xnli", splits=TRAIN_DEV_TEST),
            Source(
                hub=XT,
                config="XNLI",
                mirror="XNLI",
                reader="xtreme_xnli",
                language_field="language",
                splits={"dev": "validation", "test": "test"},
            ),
        ),
        regimes=(_own_data("translate_train", "xnli", XNLI_LANGS),),  # facebook/xnli's train: MNLI translated
        description="Cross-lingual NLI; trained on English MNLI.",
    ),
    Task(
        name="pawsx",
        kind="classification",
        labels=("0", "1"),
        metric="accuracy",
        scorer="accuracy",
        languages=PAWSX_LANGS,
        benchmark="xtreme",
        sources=(
            Source(hub=XT, config="PAWS-X.{lang}", mirror="PAWS-X.{lang}", reader="paws", splits=TRAIN_DEV_TEST),
            Source(
                hub="google-research-datasets/paws-x",
                config="{lang}",
                mirror="paws-x.{lang}",
                reader="paws",
                splits=TRAIN_DEV_TEST,
            ),
        ),
        regimes=(_own_data("translate_train", "pawsx", PAWSX_LANGS),),
        description="Paraphrase adversaries (PAWS-X); trained on its English training set.",
    ),
    Task(
        name="xcopa",
        kind="multiple_choice",
        labels=_choices(2),
        metric="accuracy",
        scorer="mc_accuracy",
        languages=XCOPA_LANGS,
        train_task="copa",
        benchmark="xtreme-r",
        sources=(
            Source(
                hub="cambridgeltl/xcopa",
                config="{lang}",
                mirror="xcopa.{lang}",
                reader="copa",
                splits={"dev": "validation", "test": "test"},
            ),
        ),
        # XCOPA has no training sets of its own: in-language training is few-shot, on 80% of each language's
        # validation set, with the other 20% selecting (xcopa_fewshot); test is XCOPA's test set.
        regimes=(
            RegimeData(
                regime="in_language", train_task="xcopa_fewshot", dev_task="xcopa_fewshot", languages=XCOPA_LANGS
            ),
        ),
        description="Causal commonsense reasoning; trained on English COPA (usually after SIQA).",
    ),
    Task(
        name="xcopa_fewshot",
        kind="multiple_choice",
        labels=_choices(2),
        metric="accuracy",
        scorer="mc_accuracy",
        languages=XCOPA_LANGS,
        benchmark="xtreme-r",
        sources=(
            Source(
                hub="cambridgeltl/xcopa",
                config="{lang}",
                mirror="xcopa.{lang}",
                reader="copa",
                splits={"train": "validation[:80%]", "dev": "validation[80%:]"},
            ),
        ),
        description="XCOPA's validation sets as few-shot training data (80%) and selection (20%), per language: "
        "XCOPA's in-language regime.",
    ),
    Task(
        name="udpos",
        kind="tagging",
        labels=UPOS,
        metric="f1",
        scorer="seqeval",
        languages=UDPOS_LANGS,
        benchmark="xtreme",
        sources=(
            Source(
                hub=XT,
                config="udpos.{code}",
                mirror="udpos.{code}",
                reader="udpos",
                splits=TRAIN_DEV_TEST,
                codes={c: LANGUAGES[c].name for c in UDPOS_LANGS},
            ),
        ),
        # Kazakh, Thai, Tagalog and Yoruba have test sets only in XTREME's UD-POS (jiant's XTREME guide
        # tokenizes nothing else for them).
        regimes=(_own_data("in_language", "udpos", UDPOS_LANGS, drop=("en", "kk", "th", "tl", "yo")),),
        description="Universal Dependencies v2.5 part-of-speech tagging (F1 as XTREME computes it).",
    ),
    Task(
        name="panx",
        kind="tagging",
        labels=NER,
        metric="f1",
        scorer="seqeval",
        languages=PANX_LANGS,
        benchmark="xtreme",
        sources=(
            Source(hub=XT, config="PAN-X.{lang}", mirror="PAN-X.{lang}", reader="panx", splits=TRAIN_DEV_TEST),
            Source(
                hub="unimelb-nlp/wikiann",
                config="{lang}",
                mirror="wikiann.{lang}",
                reader="panx",
                splits=TRAIN_DEV_TEST,
            ),
        ),
        regimes=(_own_data("in_language", "panx", PANX_LANGS),),
        description="WikiANN named entities (PAN-X), span F1.",
    ),
    Task(
        name="xquad",
        kind="qa",
        labels=(),
        metric="em_f1_avg",
        scorer="squad_v1",
        languages=XQUAD_LANGS,
        train_task="squad",
        benchmark="xtreme",
        test_is_validation=True,
        sources=(
            Source(hub=XT, config="XQuAD.{lang}", mirror="XQuAD.{lang}", reader="squad", splits={"test": "validation"}),
            Source(
                hub="google/xquad",
                config="xquad.{lang}",
                mirror="xquad.{lang}",
                reader="squad",
                splits={"test": "validation"},
            ),
        ),
        # XTREME's translate-train for XQuAD is MLQA's (SQuAD translated), in the languages both have.
        regimes=(
            RegimeData(
                regime="translate_train",
                train_task="mlqa_translate_train",
                dev_task="mlqa_translate_train",
                languages=tuple(lang for lang in XQUAD_LANGS if lang in MLQA_TRANSLATE_LANGS),
            ),
        ),
        description="Cross-lingual extractive QA; trained on SQuAD v1.1; its test set is the hub's validation.",
    ),
    Task(
        name="mlqa",
        kind="qa",
        labels=(),
        metric="em_f1_avg",
        scorer="mlqa",
        languages=MLQA_LANGS,
        train_task="squad",
        benchmark="xtreme",
        sources=(
            Source(
                hub=XT,
                config="MLQA.{lang}.{lang}",
                mirror="MLQA.{lang}.{lang}",
                reader="squad",
                splits={"dev": "validation", "test": "test"},
            ),
        ),
        regimes=(
            RegimeData(
                regime="translate_train",
                train_task="mlqa_translate_train",
                dev_task="mlqa",
                languages=MLQA_TRANSLATE_LANGS,
            ),
        ),
        description="Multilingual QA (context and question in the same language); MLQA's normalization.",
    ),
    Task(
        name="tydiqa",
        kind="qa",
        labels=(),
        metric="em_f1_avg",
        scorer="squad_v1",
        languages=TYDIQA_LANGS,
        benchmark="xtreme",
        test_is_validation=True,
        sources=(
            Source(
                hub=XT,
                config="tydiqa",
                mirror="tydiqa",
                reader="squad",
                language_field="id",
                codes=TYDIQA_CODES,
                # TyDiQA-GoldP publishes no dev set: the last 10% of each language's training
                # data selects trials, so the benchmark's test set never does.
                splits={"train": "train[:90%]", "dev": "train[90%:]", "test": "validation"},
            ),
        ),
        regimes=(_own_data("in_language", "tydiqa", TYDIQA_LANGS),),
        description=(
            "TyDiQA-GoldP; trained on the first 90% of its English training set, selected on the last 10%; "
            "its test set is the hub's validation. Training data in all 9 languages (tydiqa@all)."
        ),
    ),
    Task(
        name="mlqa_translate_train",
        kind="qa",
        labels=(),
        metric="em_f1_avg",
        scorer="mlqa",
        languages=MLQA_TRANSLATE_LANGS,
        benchmark="intermediate",
        sources=(
            Source(
                hub="facebook/mlqa",
                config="mlqa-translate-train.{lang}",
                mirror="mlqa-translate-train.{lang}",
                reader="squad",
                splits=TRAIN_DEV,
            ),
        ),
        description=(
            "SQuAD v1.1 machine-translated into the MLQA languages (MLQA's translate-train), for "
            "non-English intermediate QA training, e.g. mlqa_translate_train@de+es."
        ),
    ),
    Task(
        name="bucc2018",
        kind="retrieval",
        labels=(),
        metric="f1",
        scorer="bucc",
        languages=BUCC_LANGS,
        benchmark="xtreme",
        sources=(
            Source(
                hub=None,  # the hub's bucc18 configs hold only the gold pairs, without ids: nothing to mine
                config=None,
                mirror="bucc2018",
                reader="bucc_files",
                splits={"dev": "dev", "test": "test"},  # XTREME's names for the release's sample / training
                files=(
                    "bucc2018/{lang}-en.{split}.{lang}",  # `id<TAB>sentence` lines
                    "bucc2018/{lang}-en.{split}.en",
                    "bucc2018/{lang}-en.{split}.gold",  # `<lg> id<TAB>en id` lines
                ),
                obtain=BUCC_OBTAIN,
            ),
        ),
        description="BUCC 2018 bitext mining in the full corpora: LASER margin scores, threshold tuned on dev gold.",
    ),
    Task(
        name="tatoeba",
        kind="retrieval",
        labels=(),
        metric="accuracy",
        scorer="tatoeba",
        languages=tuple(TATOEBA_CODES),
        benchmark="xtreme",
        test_is_validation=True,
        sources=(
            Source(
                hub=XT,
                config="tatoeba.{code}",
                mirror="tatoeba.{code}",
                reader="bitext",
                codes=TATOEBA_CODES,
                splits={"test": "validation"},
            ),
        ),
        description="Tatoeba sentence retrieval against English (top-1 accuracy).",
    ),
    Task(
        name="lareqa",
        kind="retrieval",
        labels=(),
        metric="map_at_20",
        scorer="lareqa",
        languages=LAREQA_LANGS,
        benchmark="xtreme-r",
        sources=(
            Source(
                hub=None,  # the hub's xquad_r has no sentence breaks, so no candidate sentences
                config=None,
                mirror="lareqa/xquad-r",
                reader="lareqa_files",
                splits={"test": "test"},
                files=("lareqa/xquad-r/{lang}.json",),
                obtain=LAREQA_OBTAIN,
            ),
        ),
        description="LAReQA (XQuAD-R): a question retrieves its answer sentence in every language from an "
        "11-language pool (mAP@20).",
    ),
    Task(
        name="mewslix",
        kind="retrieval",
        labels=(),
        metric="map_at_20",
        scorer="mewslix",
        languages=MEWSLIX_LANGS,
        benchmark="xtreme-r",
        sources=(
            Source(
                hub=None,
                config=None,
                mirror="mewslix",
                reader="mewslix_files",
                splits={"dev": "dev", "test": "test"},
                files=("mewslix/wikinews_mentions-{split}.jsonl", "mewslix/candidate_set_entities.jsonl"),
                obtain=MEWSLIX_OBTAIN,
            ),
        ),
        description="Mewsli-X: a WikiNews mention retrieves its WikiData entity from ~1M descriptions "
        "(mAP@20, i.e. MRR@20).",
    ),
    # ---- English intermediate tasks (X-STILTs) and training sets of targets ----
    Task(
        name="mnli",
        kind="classification",
        labels=NLI,
        metric="accuracy",
        scorer="accuracy",
        languages=("en",),
        benchmark="intermediate",
        sources=(
            Source(
                hub="nyu-mll/glue",
                config="mnli",
                mirror="glue.mnli",
                reader="nli",
                splits={"train": "train", "dev": "validation_matched"},
            ),
        ),
        description="MultiNLI (GLUE); XNLI's English training set.",
    ),
    Task(
        name="snli",
        kind="classification",
        labels=NLI,
        metric="accuracy",
        scorer="accuracy",
        languages=("en",),
        benchmark="intermediate",
        sources=(Source(hub="stanfordnlp/snli", config=None, mirror="snli", reader="nli", splits=TRAIN_DEV_TEST),),
        description="SNLI (examples without a gold label are skipped in training).",
    ),
    Task(
        name="anli",
        kind="classification",
        labels=NLI,
        metric="accuracy",
        scorer="accuracy",
        languages=("en",),
        benchmark="intermediate",
        sources=(
            Source(
                hub="facebook/anli",
                config=None,
                mirror="anli",
                reader="nli",
                splits={
                    "train": ("train_r1", "train_r2", "train_r3"),
                    "dev": ("dev_r1", "dev_r2", "dev_r3"),
                    "test": ("test_r1", "test_r2", "test_r3"),
                },
            ),
        ),
        description="Adversarial NLI, rounds 1-3 combined.",
    ),
    Task(
        name="qqp",
        kind="classification",
        labels=("not_duplicate", "duplicate"),
        metric="accuracy",
        scorer="accuracy",
        languages=("en",),
        benchmark="intermediate",
        sources=(Source(hub="nyu-mll/glue", config="qqp", mirror="glue.qqp", reader="qqp", splits=TRAIN_DEV),),
        description="Quora Question Pairs (GLUE).",
    ),
    Task(
        name="sst2",
        kind="classification",
        labels=("negative", "positive"),
        metric="accuracy",
        scorer="accuracy",
        languages=("en",),
        benchmark="intermediate",
        sources=(Source(hub="nyu-mll/glue", config="sst2", mirror="glue.sst2", reader="sst2", splits=TRAIN_DEV),),
        description="Stanford Sentiment Treebank, binary (GLUE).",
    ),
    Task(
        name="squad",
        kind="qa",
        labels=(),
        metric="em_f1_avg",
        scorer="squad_v1",
        languages=("en",),
        benchmark="intermediate",
        sources=(
            Source(hub="rajpurkar/squad", config="plain_text", mirror="squad", reader="squad", splits=TRAIN_DEV),
            Source(hub=XT, config="SQuAD", mirror="SQuAD", reader="squad", splits=TRAIN_DEV),
        ),
        description="SQuAD v1.1; XQuAD's and MLQA's English training set.",
    ),
    Task(
        name="squad_v2",
        kind="qa",
        labels=(),
        metric="em_f1_avg",
        scorer="squad_v2",
        languages=("en",),
        benchmark="intermediate",
        sources=(
            Source(hub="rajpurkar/squad_v2", config="squad_v2", mirror="squad_v2", reader="squad", splits=TRAIN_DEV),
        ),
        description="SQuAD v2.0 (unanswerable questions).",
    ),
    Task(
        name="hellaswag",
        kind="multiple_choice",
        labels=_choices(4),
        metric="accuracy",
        scorer="mc_accuracy",
        languages=("en",),
        benchmark="intermediate",
        sources=(Source(hub="Rowan/hellaswag", config=None, mirror="hellaswag", reader="hellaswag", splits=TRAIN_DEV),),
        description="HellaSwag sentence completion.",
    ),
    Task(
        name="cosmos_qa",
        kind="multiple_choice",
        labels=_choices(4),
        metric="accuracy",
        scorer="mc_accuracy",
        languages=("en",),
        benchmark="intermediate",
        sources=(
            Source(hub="allenai/cosmos_qa", config=None, mirror="cosmos_qa", reader="cosmos_qa", splits=TRAIN_DEV),
        ),
        description="Cosmos QA reading comprehension.",
    ),
    Task(
        name="commonsense_qa",
        kind="multiple_choice",
        labels=_choices(5),
        metric="accuracy",
        scorer="mc_accuracy",
        languages=("en",),
        benchmark="intermediate",
        sources=(
            Source(
                hub="tau/commonsense_qa",
                config=None,
                mirror="commonsense_qa",
                reader="commonsense_qa",
                splits=TRAIN_DEV,
            ),
        ),
        description="CommonsenseQA.",
    ),
    Task(
        name="siqa",
        kind="multiple_choice",
        labels=_choices(3),
        metric="accuracy",
        scorer="mc_accuracy",
        languages=("en",),
        benchmark="intermediate",
        sources=(
            Source(hub="allenai/social_i_qa", config=None, mirror="social_i_qa", reader="siqa", splits=TRAIN_DEV),
        ),
        description="Social IQa; XCOPA's usual first stage.",
    ),
    Task(
        name="copa",
        kind="multiple_choice",
        labels=_choices(2),
        metric="accuracy",
        scorer="mc_accuracy",
        languages=("en",),
        benchmark="intermediate",
        sources=(
            Source(hub="aps/super_glue", config="copa", mirror="super_glue.copa", reader="copa", splits=TRAIN_DEV),
        ),
        description="English COPA (SuperGLUE); XCOPA's English training set.",
    ),
    Task(
        name="ccg",
        kind="tagging",
        labels=(),  # CCGbank's supertags (1,363 in jiant's set) come with the data: ccg/tags_to_id.json
        labels_file="tags_to_id.json",
        metric="accuracy",
        scorer="tag_accuracy",
        languages=("en",),
        benchmark="intermediate",
        sources=(
            # CCGbank is licensed by the LDC, so there is no public hub copy: each line of jiant's
            # ccg.{train,dev,test} files ("text<TAB>tags") is one {"text", "tags"} record here.
            Source(
                hub=None,
                config=None,
                mirror="ccg",
                reader="ccg",
                splits={"train": "train", "dev": "dev", "test": "test"},
            ),
        ),
        description=(
            "CCG supertagging (CCGbank, as jiant prepares it), token accuracy. Local files only: "
            "ccg/{train,dev,test}.jsonl with `text` and `tags` (space-separated) and ccg/tags_to_id.json."
        ),
    ),
)
