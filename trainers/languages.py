"""Languages by the codes XTREME uses (ISO 639-1 where one exists), with ISO 639-3 code, family, genus and
script, and where each comes from (``SOURCES``).

The metadata lets result tables be grouped by family, genus or script (``sweep query --by family``) without a
lookup elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainers.errors import TaskError, suggest


@dataclass(frozen=True, kw_only=True)
class Language:
    """One language: its XTREME code, English name, ISO 639-3 code, family, genus and script."""

    code: str
    name: str
    iso639_3: str
    family: str  # top-level family (Glottolog); creoles are grouped as WALS groups them, not genetically
    genus: str  # WALS genus: the grouping of about 2,500 years' depth that typology compares across
    script: str  # the script XTREME's data for the language is written in (ISO 15924 names)


SOURCES = (
    "ISO 639-3 codes: SIL International, https://iso639-3.sil.org",
    "family: Glottolog 5.0 top-level families, https://glottolog.org (Hammarström et al.)",
    "genus: WALS Online, https://wals.info/languoid (Dryer & Haspelmath 2013)",
    "script: ISO 15924 names, as written in XTREME's data (Hu et al. 2020, Table 5; Ruder et al. 2021)",
)

_IE, _AA, _AN = "Indo-European", "Afro-Asiatic", "Austronesian"
_TABLE: tuple[tuple[str, str, str, str, str, str], ...] = (
    # code, name, ISO 639-3, family, genus, script
    ("af", "Afrikaans", "afr", _IE, "Germanic", "Latin"),
    ("ar", "Arabic", "ara", _AA, "Semitic", "Arabic"),
    ("az", "Azerbaijani", "aze", "Turkic", "Turkic", "Latin"),
    ("bg", "Bulgarian", "bul", _IE, "Slavic", "Cyrillic"),
    ("bn", "Bengali", "ben", _IE, "Indic", "Bengali"),
    ("de", "German", "deu", _IE, "Germanic", "Latin"),
    ("el", "Greek", "ell", _IE, "Greek", "Greek"),
    ("en", "English", "eng", _IE, "Germanic", "Latin"),
    ("es", "Spanish", "spa", _IE, "Romance", "Latin"),
    ("et", "Estonian", "est", "Uralic", "Finnic", "Latin"),
    ("eu", "Basque", "eus", "Basque (isolate)", "Basque", "Latin"),
    ("fa", "Persian", "fas", _IE, "Iranian", "Arabic"),
    ("fi", "Finnish", "fin", "Uralic", "Finnic", "Latin"),
    ("fr", "French", "fra", _IE, "Romance", "Latin"),
    ("gu", "Gujarati", "guj", _IE, "Indic", "Gujarati"),
    ("he", "Hebrew", "heb", _AA, "Semitic", "Hebrew"),
    ("hi", "Hindi", "hin", _IE, "Indic", "Devanagari"),
    ("ht", "Haitian Creole", "hat", "Creole (French-based)", "Creoles and Pidgins", "Latin"),
    ("hu", "Hungarian", "hun", "Uralic", "Ugric", "Latin"),
    ("id", "Indonesian", "ind", _AN, "Malayo-Sumbawan", "Latin"),
    ("it", "Italian", "ita", _IE, "Romance", "Latin"),
    ("ja", "Japanese", "jpn", "Japonic", "Japanese", "Japanese (Han and Kana)"),
    ("jv", "Javanese", "jav", _AN, "Javanese", "Latin"),
    ("ka", "Georgian", "kat", "Kartvelian", "Kartvelian", "Georgian"),
    ("kk", "Kazakh", "kaz", "Turkic", "Turkic", "Cyrillic"),
    ("ko", "Korean", "kor", "Koreanic", "Korean", "Hangul"),
    ("lt", "Lithuanian", "lit", _IE, "Baltic", "Latin"),
    ("ml", "Malayalam", "mal", "Dravidian", "Southern Dravidian", "Malayalam"),
    ("mr", "Marathi", "mar", _IE, "Indic", "Devanagari"),
    ("ms", "Malay", "msa", _AN, "Malayo-Sumbawan", "Latin"),
    ("my", "Burmese", "mya", "Sino-Tibetan", "Burmese-Lolo", "Myanmar"),
    ("nl", "Dutch", "nld", _IE, "Germanic", "Latin"),
    ("pa", "Punjabi", "pan", _IE, "Indic", "Gurmukhi"),
    ("pl", "Polish", "pol", _IE, "Slavic", "Latin"),
    ("pt", "Portuguese", "por", _IE, "Romance", "Latin"),
    ("qu", "Quechua", "que", "Quechuan", "Quechuan", "Latin"),
    ("ro", "Romanian", "ron", _IE, "Romance", "Latin"),
    ("ru", "Russian", "rus", _IE, "Slavic", "Cyrillic"),
    ("sw", "Swahili", "swa", "Atlantic-Congo", "Bantoid", "Latin"),
    ("ta", "Tamil", "tam", "Dravidian", "Southern Dravidian", "Tamil"),
    ("te", "Telugu", "tel", "Dravidian", "South-Central Dravidian", "Telugu"),
    ("th", "Thai", "tha", "Tai-Kadai", "Kam-Tai", "Thai"),
    ("tl", "Tagalog", "tgl", _AN, "Greater Central Philippine", "Latin"),
    ("tr", "Turkish", "tur", "Turkic", "Turkic", "Latin"),
    ("uk", "Ukrainian", "ukr", _IE, "Slavic", "Cyrillic"),
    ("ur", "Urdu", "urd", _IE, "Indic", "Arabic"),
    ("vi", "Vietnamese", "vie", "Austroasiatic", "Viet-Muong", "Latin"),
    ("wo", "Wolof", "wol", "Atlantic-Congo", "Northern Atlantic", "Latin"),
    ("yo", "Yoruba", "yor", "Atlantic-Congo", "Defoid", "Latin"),
    ("zh", "Chinese", "zho", "Sino-Tibetan", "Chinese", "Han (Simplified)"),
)

LANGUAGES: dict[str, Language] = {
    row[0]: Language(code=row[0], name=row[1], iso639_3=row[2], family=row[3], genus=row[4], script=row[5])
    for row in _TABLE
}


def get_language(code: str) -> Language:
    """Return the language with XTREME code ``code``, e.g. ``get_language("de").genus == "Germanic"``."""
    try:
        return LANGUAGES[code]
    except KeyError:
        raise TaskError(
            f"unknown language `{code}`{suggest(code, LANGUAGES)}; languages are named by XTREME's codes "
            f"({', '.join(sorted(LANGUAGES))})"
        ) from None
