"""Word lists and sentence templates for the synthetic multilingual toy tasks (see trainers.toy.data)."""

from __future__ import annotations

from trainers.tasks.toy import TOY_LANGUAGES

# Every multilingual list below is *parallel*: index i is the same meaning in each language, so
# a validation/test example can be rendered in all five languages from one abstract example,
# the way XNLI and PAWS-X translate one English test set.

LANGUAGES: tuple[str, ...] = TOY_LANGUAGES  # every dict below is keyed by these

# People are first names, written the same in every language (as named entities are in real
# text), so no language needs case or contraction changes when a template moves them around.
NAMES: tuple[str, ...] = ("anna", "omar", "lena", "juan", "amina", "pierre")

# Quantities are the single tokens "2".."11": few enough that a tiny model can learn their
# order within a few hundred steps, and no "1 goats".
NUMBERS: tuple[int, ...] = tuple(range(2, 12))

# Plural countable things (split on spaces; every word is one token).
THINGS: dict[str, tuple[str, ...]] = {
    "en": tuple("goats chickens books chairs eggs pens mangoes bananas boxes cups shirts bottles".split()),
    "de": tuple("ziegen hühner bücher stühle eier stifte mangos bananen kisten tassen hemden flaschen".split()),
    "fr": tuple("chèvres poules livres chaises œufs stylos mangues bananes boîtes tasses chemises bouteilles".split()),
    "es": tuple("cabras gallinas libros sillas huevos bolígrafos mangos plátanos cajas tazas camisas botellas".split()),
    "sw": tuple("mbuzi kuku vitabu viti mayai kalamu maembe ndizi masanduku vikombe mashati chupa".split()),
}

# Four parallel wordings of "NAME has N THINGS"; {p} name, {n} number (digits), {t} things.
# Word order differs by language (Swahili puts the number after the noun), so a model cannot
# find the number by its position alone.
HAVE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": ("{p} has {n} {t}", "{p} owns {n} {t}", "{n} {t} belong to {p}", "in total {p} has {n} {t}"),
    "de": ("{p} hat {n} {t}", "{p} besitzt {n} {t}", "{n} {t} hat {p}", "insgesamt hat {p} {n} {t}"),
    "fr": ("{p} a {n} {t}", "{p} possède {n} {t}", "{n} {t} appartiennent à {p}", "au total {p} a {n} {t}"),
    "es": ("{p} tiene {n} {t}", "{p} posee {n} {t}", "{n} {t} pertenecen a {p}", "en total {p} tiene {n} {t}"),
    "sw": ("{p} ana {t} {n}", "{p} anamiliki {t} {n}", "{t} {n} ni mali ya {p}", "kwa jumla {p} ana {t} {n}"),
}

# The toy_qa question: the first wording of each language with its quantity left out, a cloze
# ("anna has" -> "7 goats"). Question words ("how many") would be new vocabulary, and every toy
# task shares one tokenizer whose ids (and so the quickstart's random model) must not move.
HAVE_QUESTIONS: dict[str, str] = {"en": "{p} has", "de": "{p} hat", "fr": "{p} a", "es": "{p} tiene", "sw": "{p} ana"}

# English-only NLI hypothesis about a quantity; {k} is the number compared with the premise's.
NLI_HYPOTHESIS = "{p} has more than {k} {t}"

# English-only topic sentences: "SUBJECT VERB OBJECT PLACE", one word list per slot and topic.
TOPIC_WORDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "food": (
        ("the cook", "my mother", "the baker", "the waiter", "the chef"),
        ("cooks", "bakes", "eats", "serves", "tastes"),
        ("the bread", "some rice", "the soup", "a cake", "the fish"),
        ("in the kitchen", "at dinner", "for lunch", "in the restaurant", "at breakfast"),
    ),
    "sport": (
        ("the player", "the team", "the coach", "the runner", "the goalkeeper"),
        ("kicks", "wins", "trains for", "loses", "watches"),
        ("the ball", "the match", "a goal", "the race", "the final"),
        ("in the stadium", "on the field", "after practice", "at the tournament", "on the track"),
    ),
    "music": (
        ("the singer", "the band", "the pianist", "the drummer", "the choir"),
        ("sings", "records", "writes", "rehearses", "performs"),
        ("a song", "the melody", "the album", "a concert", "the chorus"),
        ("on stage", "in the studio", "at the festival", "with the orchestra", "on the radio"),
    ),
    "travel": (
        ("the tourist", "the pilot", "the driver", "the traveller", "the guide"),
        ("books", "boards", "catches", "misses", "visits"),
        ("the train", "a flight", "the bus", "the hotel", "the ferry"),
        ("at the station", "at the airport", "during the holiday", "at the border", "on the map"),
    ),
}
