"""Text normalisation for medication names: Unicode folding, tokens, noise words and routes.

Everything here is a pure function of its input and cheap: one ``str.translate`` with a
cached per-character table and one tokenising regex per string, so the same code reads
the knowledge tables at load time and requests at run time.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Tokens: a run of CJK ideographs; a number with an optional unit ("500mg", "0.5g",
# "5mg/kg", "2%"); a word; or a list separator.
_TOKEN = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"
    r"|\d+(?:[.,]\d+)*(?:[a-z\u03bc%]+(?:/[a-z0-9]+)*)?"
    r"|[a-z][a-z0-9]*"
    r"|[+;,&/\u3001]"
)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_PUNCT_SEPARATORS = frozenset({"+", ";", ",", "&", "/", "\u3001"})
_WORD_SEPARATORS = frozenset({"and", "with", "plus", "w"})
# What may follow a number in a dose: "500mg", "0.5g", "2%", "5mg/kg", "300mg/100mg".
_UNITS = frozenset(
    [
        "mg",
        "g",
        "gm",
        "mcg",
        "ug",
        "μg",
        "ng",
        "ml",
        "l",
        "dl",
        "iu",
        "u",
        "ku",
        "miu",
        "mu",
        "unit",
        "units",
        "mmol",
        "meq",
        "kg",
        "m2",
        "mg/kg",
        "mg/m2",
        "mcg/kg",
        "%",
        "x",
        "h",
        "hr",
        "d",
    ]
)
_FREQUENCY = re.compile(r"q\d+(?:h|hr|hrs|d|w|wk)?|x\d+(?:d|days?|w|wk)?|\d+x|\d+(?:/\d+)+")

# Words that never name a drug: units, frequencies, routes, forms, release modifiers,
# salts and filler. They are dropped only after the exact look-up has had its chance,
# so that names that contain them ("sodium chloride", "St John's wort") still match.
NOISE_WORDS = frozenset(
    [
        "mg",
        "g",
        "gm",
        "gram",
        "grams",
        "mcg",
        "ug",
        "μg",
        "microgram",
        "micrograms",
        "ml",
        "l",
        "iu",
        "u",
        "unit",
        "units",
        "mmol",
        "meq",
        "kg",
        "m2",
        "mg/kg",
        "mg/m2",
        "dose",
        "doses",
        "dosage",
        "tab",
        "tabs",
        "tablet",
        "tablets",
        "cap",
        "caps",
        "capsule",
        "capsules",
        "pill",
        "pills",
        "susp",
        "suspension",
        "syrup",
        "solution",
        "soln",
        "elixir",
        "drops",
        "drop",
        "inj",
        "injection",
        "injectable",
        "infusion",
        "inf",
        "vial",
        "vials",
        "amp",
        "ampoule",
        "powder",
        "granules",
        "granule",
        "sachet",
        "film",
        "coated",
        "filmcoated",
        "chewable",
        "dispersible",
        "effervescent",
        "orodispersible",
        "odt",
        "er",
        "xl",
        "xr",
        "sr",
        "cr",
        "la",
        "dr",
        "ec",
        "mr",
        "pr",
        "ir",
        "retard",
        "depot",
        "modified",
        "extended",
        "release",
        "delayed",
        "sustained",
        "controlled",
        "prolonged",
        "immediate",
        "oral",
        "orally",
        "po",
        "iv",
        "im",
        "sc",
        "sq",
        "subcut",
        "subcutaneous",
        "intravenous",
        "intramuscular",
        "by",
        "mouth",
        "enteral",
        "ng",
        "peg_tube",
        "bid",
        "tid",
        "qid",
        "qd",
        "od",
        "bd",
        "tds",
        "qds",
        "qhs",
        "hs",
        "prn",
        "stat",
        "daily",
        "weekly",
        "monthly",
        "nightly",
        "morning",
        "evening",
        "night",
        "once",
        "twice",
        "thrice",
        "times",
        "day",
        "days",
        "week",
        "weeks",
        "month",
        "months",
        "hour",
        "hours",
        "hr",
        "hrs",
        "every",
        "per",
        "each",
        "sodium",
        "potassium",
        "hydrochloride",
        "hcl",
        "hydrobromide",
        "mesylate",
        "mesilate",
        "maleate",
        "sulfate",
        "sulphate",
        "phosphate",
        "citrate",
        "acetate",
        "tartrate",
        "besylate",
        "besilate",
        "succinate",
        "fumarate",
        "disoproxil",
        "dihydrate",
        "monohydrate",
        "trihydrate",
        "hemihydrate",
        "anhydrous",
        "bromide",
        "chloride",
        "lactate",
        "gluconate",
        "magnesium",
        "calcium",
        "salt",
        "free",
        "base",
        "last",
        "taken",
        "take",
        "takes",
        "taking",
        "stopped",
        "stop",
        "started",
        "start",
        "since",
        "until",
        "from",
        "till",
        "on",
        "at",
        "the",
        "a",
        "an",
        "of",
        "for",
        "in",
        "to",
        "as",
        "needed",
        "course",
        "cycle",
        "cycles",
        "dosed",
        "given",
        "prior",
        "previous",
        "previously",
        "current",
        "currently",
        "patient",
        "pt",
        "rx",
        "medication",
        "medicine",
        "drug",
        "generic",
        "brand",
    ]
)

# Forms and routes that keep a systemic drug away from the blood stream in any amount
# that matters for CYP3A4: a pharmacist confirms, the engine does not block.
NON_SYSTEMIC_WORDS = frozenset(
    [
        "cream",
        "creme",
        "crm",
        "ointment",
        "oint",
        "ung",
        "gel",
        "lotion",
        "shampoo",
        "topical",
        "topically",
        "ophthalmic",
        "otic",
        "eyedrops",
        "eyedrop",
        "cutaneous",
        "dermal",
        "foam",
        "vaginal",
        "pessary",
        "pessaries",
        "ovule",
        "ovules",
        "paste",
        "mouthwash",
        "lozenge",
    ]
)
_NON_SYSTEMIC_BIGRAMS = frozenset({("eye", "drops"), ("eye", "drop"), ("ear", "drops"), ("ear", "drop")})
_SYSTEMIC_OVERRIDES = frozenset({"oral", "orally", "po", "iv", "intravenous", "im", "injection", "inj"})
NON_SYSTEMIC_CHINESE = (
    "乳膏",
    "软膏",
    "凝胶",
    "洗剂",
    "滴眼液",
    "滴耳液",
    "眼膏",
    "外用",
    "阴道",
    "洗发",
    "搽剂",
    "霜",
)

# Chinese formulation suffixes, salt words and filler, removed around recognised names.
CHINESE_NOISE = tuple(
    sorted(
        [
            "片",
            "片剂",
            "胶囊",
            "软胶囊",
            "缓释",
            "控释",
            "肠溶",
            "分散",
            "咀嚼",
            "泡腾",
            "口崩",
            "注射液",
            "注射用",
            "注射",
            "口服",
            "混悬液",
            "混悬",
            "溶液",
            "液",
            "颗粒",
            "干混悬剂",
            "糖浆",
            "滴剂",
            "粉针",
            "冻干粉",
            "粉",
            "乳膏",
            "软膏",
            "凝胶",
            "洗剂",
            "滴眼液",
            "滴耳液",
            "眼膏",
            "栓",
            "剂",
            "盐酸",
            "硫酸",
            "磷酸",
            "甲磺酸",
            "马来酸",
            "枸橼酸",
            "酒石酸",
            "钠",
            "钾",
            "钙",
            "每日",
            "每天",
            "一次",
            "两次",
            "三次",
            "次",
            "日",
            "天",
            "毫克",
            "克",
            "毫升",
            "静脉",
            "静滴",
            "外用",
            "阴道",
            "服用",
            "用药",
            "最后",
            "停药",
            "重组人",
            "注射剂",
            "丸",
            "散",
            "合剂",
            "口服液",
            "胶丸",
            "贴剂",
            "复方",
        ],
        key=len,
        reverse=True,
    )
)
_CHINESE_NOISE_SET = frozenset(CHINESE_NOISE)
CHINESE_NOISE_MAX = max(len(word) for word in CHINESE_NOISE)


class _FoldTable(dict[int, str | None]):
    """A lazily filled ``str.translate`` table: drops format and combining characters,
    turns control characters and punctuation into spaces and folds case, one
    code point at a time, computed once per code point."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        category = unicodedata.category(char)
        value: str | None
        if category in ("Cf", "Mn", "Me"):
            value = None  # zero-width spaces, soft hyphens, bidi marks, accents
        elif category[0] in "CZ" or (category[0] in "PS" and char not in "+;,&/%.\u3001"):
            value = " "
        else:
            value = char.casefold()
        self[code] = value
        return value


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """Fold text for matching: NFKD compatibility form, no accents, no invisible
    characters, punctuation as spaces, case folded.

    Examples:
        >>> fold("ＣＬＡＲＩＴＨＲＯ\u00admycin (Phénytoïne)")
        'clarithromycin  phenytoine '
    """
    return unicodedata.normalize("NFKD", text).translate(_FOLD)


def is_blank(text: str) -> bool:
    """True when the text holds nothing but spaces and invisible characters."""
    if text.isascii():
        return not text.strip()
    return not fold(text).strip()


def tokens(text: str) -> list[str]:
    """Split folded text into tokens (see ``_TOKEN``)."""
    return _TOKEN.findall(text)


def is_cjk(token: str) -> bool:
    """True for a token of CJK ideographs."""
    return bool(_CJK.match(token))


def is_separator(token: str) -> bool:
    """True for a punctuation token that separates several drugs on one line ("+", ",", "/"...)."""
    return token in _PUNCT_SEPARATORS


def is_word_separator(token: str) -> bool:
    """True for a joining word ("and", "with", "plus"): it separates drugs unless part of a known name."""
    return token in _WORD_SEPARATORS


def is_noise(token: str) -> bool:
    """True for a token that never names a drug: a dose, unit, frequency, route, form or salt."""
    if token in NOISE_WORDS:
        return True
    if token[0].isdigit():
        if _FREQUENCY.fullmatch(token):
            return True
        # "500mg" and "0.5g" are doses; "131i" (radio-iodine), "3tc" and "5fu" are names.
        units = token.lstrip("0123456789.,")
        return all(unit in _UNITS for unit in units.split("/") if unit) or _is_ratio(units)
    return _FREQUENCY.fullmatch(token) is not None


def _is_ratio(units: str) -> bool:
    # "300mg/100mg": every part is a number with a unit.
    return "/" in units and all(part.lstrip("0123456789.,") in _UNITS for part in units.split("/")[1:])


def is_chinese_noise(text: str) -> bool:
    """True for a Chinese formulation suffix, salt word or filler word."""
    return text in _CHINESE_NOISE_SET


def key_of(words: list[str] | tuple[str, ...]) -> str:
    """The index key of a sequence of tokens."""
    return " ".join(words)


def compact_key_of(words: list[str] | tuple[str, ...]) -> str:
    """The index key with spaces removed, so "G-CSF", "G CSF" and "GCSF" meet."""
    return "".join(words)


@dataclass(frozen=True, slots=True)
class RouteReading:
    """Whether the text says the drug is used in a non-systemic form, and which word said so."""

    systemic: bool
    evidence: str = ""


def read_route(folded: str, words: list[str]) -> RouteReading:
    """Look for a non-systemic form or route (cream, eye drops, 乳膏...) in folded text."""
    evidence = ""
    for index, word in enumerate(words):
        if word in NON_SYSTEMIC_WORDS:
            evidence = word
            break
        if index + 1 < len(words) and (word, words[index + 1]) in _NON_SYSTEMIC_BIGRAMS:
            evidence = f"{word} {words[index + 1]}"
            break
    if not evidence:
        for marker in NON_SYSTEMIC_CHINESE:
            if marker in folded:
                evidence = marker
                break
    if evidence and not any(word in _SYSTEMIC_OVERRIDES for word in words):
        return RouteReading(systemic=False, evidence=evidence)
    return RouteReading(systemic=True)
