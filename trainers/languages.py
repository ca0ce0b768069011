"""Languages by the codes XTREME uses (ISO 639-1 where one exists), with family and script.

The metadata lets result tables be grouped by family or script without a lookup elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainers.errors import TaskError, suggest


@dataclass(frozen=True, kw_only=True)
class Language:
    """One language: its XTREME code, English name, family (genus level) and script."""

    code: str
    name: str
    family: str
    script: str


_TABLE: tuple[tuple[str, str, str, str], ...] = (
    ("af", "Afrikaans", "Germanic", "Latin"),
    ("ar", "Arabic", "Semitic", "Arabic"),
    ("bg", "Bulgarian", "Slavic", "Cyrillic"),
    ("bn", "Bengali", "Indo-Aryan", "Bengali"),
    ("de", "German", "Germanic", "Latin"),
    ("el", "Greek", "Greek", "Greek"),
    ("en", "English", "Germanic", "Latin"),
    ("es", "Spanish", "Romance", "Latin"),
    ("et", "Estonian", "Uralic", "Latin"),
    ("eu", "Basque", "Basque", "Latin"),
    ("fa", "Persian", "Iranian", "Perso-Arabic"),
    ("fi", "Finnish", "Uralic", "Latin"),
    ("fr", "French", "Romance", "Latin"),
    ("he", "Hebrew", "Semitic", "Hebrew"),
    ("hi", "Hindi", "Indo-Aryan", "Devanagari"),
    ("ht", "Haitian Creole", "Creole", "Latin"),
    ("hu", "Hungarian", "Uralic", "Latin"),
    ("id", "Indonesian", "Malayo-Polynesian", "Latin"),
    ("it", "Italian", "Romance", "Latin"),
    ("ja", "Japanese", "Japonic", "Ideograms"),
    ("jv", "Javanese", "Malayo-Polynesian", "Latin"),
    ("ka", "Georgian", "Kartvelian", "Georgian"),
    ("kk", "Kazakh", "Turkic", "Cyrillic"),
    ("ko", "Korean", "Koreanic", "Hangul"),
    ("lt", "Lithuanian", "Baltic", "Latin"),
    ("ml", "Malayalam", "Dravidian", "Brahmic"),
    ("mr", "Marathi", "Indo-Aryan", "Devanagari"),
    ("ms", "Malay", "Malayo-Polynesian", "Latin"),
    ("my", "Burmese", "Sino-Tibetan", "Brahmic"),
    ("nl", "Dutch", "Germanic", "Latin"),
    ("pl", "Polish", "Slavic", "Latin"),
    ("pt", "Portuguese", "Romance", "Latin"),
    ("qu", "Quechua", "Quechuan", "Latin"),
    ("ro", "Romanian", "Romance", "Latin"),
    ("ru", "Russian", "Slavic", "Cyrillic"),
    ("sw", "Swahili", "Niger-Congo", "Latin"),
    ("ta", "Tamil", "Dravidian", "Brahmic"),
    ("te", "Telugu", "Dravidian", "Brahmic"),
    ("th", "Thai", "Kra-Dai", "Brahmic"),
    ("tl", "Tagalog", "Malayo-Polynesian", "Latin"),
    ("tr", "Turkish", "Turkic", "Latin"),
    ("uk", "Ukrainian", "Slavic", "Cyrillic"),
    ("ur", "Urdu", "Indo-Aryan", "Perso-Arabic"),
    ("vi", "Vietnamese", "Austro-Asiatic", "Latin"),
    ("wo", "Wolof", "Niger-Congo", "Latin"),
    ("yo", "Yoruba", "Niger-Congo", "Latin"),
    ("zh", "Chinese", "Sino-Tibetan", "Ideograms"),
)

LANGUAGES: dict[str, Language] = {
    code: Language(code=code, name=name, family=family, script=script) for code, name, family, script in _TABLE
}


def get_language(code: str) -> Language:
    """Return the language with XTREME code ``code``, e.g. ``get_language("de").family == "Germanic"``."""
    try:
        return LANGUAGES[code]
    except KeyError:
        raise TaskError(
            f"unknown language `{code}`{suggest(code, LANGUAGES)}; languages are named by XTREME's codes "
            f"({', '.join(sorted(LANGUAGES))})"
        ) from None
