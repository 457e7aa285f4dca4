"""Text normalisation for medication names: Unicode folding, tokens, noise words and routes.

Everything here is a pure function of its input and cheap: one ``str.translate`` with a
cached per-character table and one tokenising regex per string, so the same code reads
the knowledge tables at load time and requests at run time.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from anyascii import anyascii
from opencc import OpenCC

# Tokens: a run of CJK ideographs; a number with an optional unit ("500mg", "0.5g",
# "5mg/kg", "2%"); a word in any other script (Latin once folded, but also Cyrillic, Greek...:
# a name in a script the tables do not cover must be seen, not dropped); or a list separator.
_TOKEN = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"
    r"|\d+(?:[.,]\d+)*(?:[a-z\u03bc%]+(?:/[a-z0-9]+)*)?"
    # longest alternatives first, whole words only: "/hr" is not "/h" + "r", "/day" not "/d" + "ay"
    r"|(?:mg|mcg|ug|\u03bcg|g|ml|iu|units?|mmol|meq)(?:/(?:kg|m2|dose|day|d|hr|h|min|ml|l|week|wk)(?![a-z0-9]))+"
    r"|[^\W\d_\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff][^\W_\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]*"
    r"|[+;,&/\u3001]"
)
_PUNCT_SEPARATORS = frozenset({"+", ";", ",", "&", "/", "\u3001"})
_WORD_SEPARATORS = frozenset({"and", "with", "plus", "w"})
# What may follow a number in a dose: "500mg", "0.5g", "2%", "5mg/kg", "300mg/100mg", and in a
# radiotherapy dose: "20Gy/5f", "1.8 Gy x 28 fx".
_UNITS = frozenset(
    """
    % d day days dl dose g gm h hr iu kg ku l m2 mcg mcg/kg meq mg mg/kg mg/m2 min miu ml mmol mu ng u ug unit
    units week wk x μg axaiu
    cgy f fr fractions fx gy
    """.split()
)
# Frequencies and schedule days: "q12h", "x5d", "3x", "1/2", "d1" (day 1 of a cycle), "C3D1".
_FREQUENCY = re.compile(r"q\d+(?:h|hr|hrs|d|w|wk)?|x\d+(?:d|days?|w|wk)?|\d+x|\d+(?:/\d+)+|d\d+|c\d+d\d+")

# Words that never name a drug: units, frequencies, routes, forms, release modifiers,
# salts and filler. They are dropped only after the exact look-up has had its chance,
# so that names that contain them ("sodium chloride", "St John's wort") still match.
NOISE_WORDS = frozenset(
    """
    a acetate acetato amp ampolla ampollas ampoule an anhydrous as at base bd besilate besilato besylate bid
    boosted brand bromide by calcium cap caps capsula capsulas capsule capsules chewable chlorhydrate chloride
    citrate citrato clorhidrato coated compressa compresse comprime comprimes comprimido comprimidos controlled
    course cr current currently cycle cycles daily day days delayed depot dihydrate disoproxil dispersible
    divided dosage dose dosed dosepak doses dr drop drops drug each ec effervescent elixir enteral er evening
    every extended fiala film filmcoated filmcomprimidos filmtabletten flacon food for fosfato free from
    fumarate fumarato g gelule gelules generic given gluconate gm gram grams granule granules hcl hemihydrate
    hour hours hr hrs hs hydrobromide hydrochlorid hydrochloride im immediate in inf infatabs infusion inj
    injectable injection intramuscular intravenous inyectable ir iu iv kapsel kapseln kg kit l la lactate last
    loading m2 magnesium maintenance maleate maleato mane mcg meal meals medication medicine meq mesilate
    mesilato mesylate mg mg/kg mg/m2 microgram micrograms ml mmol modified monohydrate month monthly months
    morning mouth mr needed ng night nightly nocte od odt of on once oral orally orodispersible pack pak patient
    peg_tube per phosphate pill pills po potasica potasico potassium powder pr previous previously prior prn
    prolonged pt pulsepak qd qds qhs qid recubiertos regimen release retard retardtabletten rx sachet saft sale
    salt salz sc sel since sirop sirup sobres sodica sodico sodique sodium soln solucion solution sq sr start
    started starter stat stop stopped subcut subcutaneous succinate succinato sulfate sulfato sulphate susp
    suspension sustained syrup tab tablet tablets tablette tabletten tabs take taken takes taking taper tartrate
    tartrato tds the then thrice tid till times titration to trihydrate twice u ug unit units until vial vials
    water week weekly weeks xl xr μg
    alt alternate autoinjector fri mon n nv other pfs prefilled sat sun syringe syringes tb thu thur thurs
    tue tues v wed
    cgy fraction fractions fx gy
    biw ivd ivdrip ivgtt qn qod qw tiw
    al ao c cada courses dia diaria diario dias el en gotas gyrbe h patch patches por premix premixed s sos
    syr tabletas vaso vo x
    f m t
    jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july august
    september october november december
    г мг мкг мл ед таб
    """.split()
)

# Everyday clinical words written beside drugs: indications, monitoring, "held", "restart", and the
# body sites of radiotherapy fields ("to L-spine": not aspirin through "aspirine"). They
# name no drug, so they are never read fuzzily (as short brands: "level" is not Aleve, "inducing"
# is not Indocin); unlike noise they are shown, as ignored words beside a name or unread alone.
ORDINARY_WORDS = frozenset(
    """
    aed aeds anticonvulsant antiepileptic breakthrough chronic continue continued continuing dvt enzyme enzymes
    epilepsy fever gvhd held herb herbal hold home htn hypertension indication inducer inducers inducing
    induction infection infections level levels medicated medicating monitor monitored monitoring mucositis
    nausea otc pain paused pcp peak pjp pneumonia premed premedication prescribed prescription prevention
    preventive prophylactic prophylaxis regular rescue restart restarted resumed seizure seizures self
    supplement supplements treatment trough troughs usual uti vomiting vte withheld
    acne allergies allergy anaemia anemia angina anxiety arthritis asthma bleeding cold constipation cough
    covid covid19 depression diabetes diarrhea diarrhoea eczema emesis flu gout headache heartburn insomnia
    itching migraine mood neutropenia rash rashes reflux sleep swelling thrombocytopenia ulcer vitamins
    abdomen antibodies antibody arm bed bone bones brain chest femur field fields head hip knee leg left liver
    lung lungs monoclonal
    mediastinal mediastinum metastases metastasis mets neck orbit pelvis primary right site sites skull spine
    thorax tumor tumour
    cardioprotection complete completed discontinued dx ended goal hx inr pd progression reinfusion relapse
    relapsed suspended suspendido suspenso tx
    agonist agonists androgen antagonist antagonists blocker blockers inhibitor inhibitors receptor receptors
    lp unsure unknown
    alk braf egfr her2 kras mek ros1 vegfr
    """.split()
)

# Forms and routes that keep a systemic drug away from the blood stream in any amount
# that matters for CYP3A4: a pharmacist confirms, the engine does not block.
NON_SYSTEMIC_WORDS = frozenset(
    """
    augentropfen champu colirio collirio collyre cream crema creme crm cutaneous dermal dermique eyedrop
    eyedrops foam gel lotion lozenge mouthwash oftalmico oint ointment ophtalmique ophthalmic otic ovule ovules
    ovulo paste pessaries pessary pomada pommade salbe shampoo shampooing topical topically topico topique ung
    vaginal vaginale
    kram krem salva schampo sjampo shampo
    """.split()
)
_NON_SYSTEMIC_BIGRAMS = frozenset({("eye", "drops"), ("eye", "drop"), ("ear", "drops"), ("ear", "drop")})
# Forms and routes that reach the blood stream: with one of them a non-systemic word in the same
# list item does not make the drug topical ("ketoconazole tab (not cream)", 伊曲康唑胶囊 外用乳膏).
_SYSTEMIC_OVERRIDES = frozenset(
    """
    oral orally po iv intravenous im injection inj tab tabs tablet tablets cap caps capsule capsules
    comprimido comprimidos susp suspension syrup
    """.split()
)
_SYSTEMIC_CHINESE = re.compile("口服|胶囊|静滴|静脉|缓释片|肠溶片|分散片")
# Phrases where a non-systemic word is food, not a form ("take with cream cheese").
_NOT_A_FORM = frozenset({("cream", "cheese"), ("ice", "cream"), ("sour", "cream")})
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
_NON_SYSTEMIC_CHINESE_PATTERN = re.compile("|".join(map(re.escape, NON_SYSTEMIC_CHINESE)))

# Chinese formulation suffixes, salt words and filler, removed around recognised names.
CHINESE_NOISE = tuple(
    sorted(
        """
        白蛋白结合型 白蛋白结合 干混悬剂 软胶囊 注射液 注射用 混悬液 冻干粉 滴眼液 滴耳液 甲磺酸
        马来酸 枸橼酸 酒石酸 重组人 注射剂 口服液 结合型 脂质体 片剂 胶囊 缓释 控释 肠溶 分散 咀嚼
        泡腾 口崩 注射 口服 混悬 溶液 颗粒 糖浆 滴剂 粉针 乳膏 软膏 凝胶 洗剂 眼膏 盐酸 硫酸
        磷酸 每日 每天 一次 两次 三次 毫克 毫升 静脉 静滴 外用 阴道 服用 用药 最后 停药 合剂
        胶丸 贴剂 复方 片 液 粉 栓 剂 钠 钾 钙 次 日 天 克 丸 散 琥珀酸 苯磺酸 富马酸 醋酸
        乳酸 葡萄糖酸 氢溴酸 二水合物 一水合物 水合物 甲苯磺酸 苹果酸 门冬氨酸
        饭前 饭后 餐前 餐后 随餐 睡前 晨起 空腹 必要时 每晚 每周 每早 早晚 小时 皮下 肌注 静推 泵入
        组合包装 包装 组合 进口 国产 粒 瓶 支 袋 盒 板 甲 乙
        完成 末次 服药 复查 血常规 期间 治疗 给予 方案 外院 诊断 支持 维持 维持治疗
        立即 医嘱 长期医嘱 临时医嘱 特药 医保 甲类 乙类 数量 用法 用量 规格 限二线 自备
        """.split(),
        key=len,
        reverse=True,
    )
)
_CHINESE_NOISE_SET = frozenset(CHINESE_NOISE)
CHINESE_NOISE_MAX = max(len(word) for word in CHINESE_NOISE)


# Line breaks and a vertical bar end a list item ("clarithromycin 500 mg\nhydrocortisone 1% cream").
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029|")


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
        elif char in _LINE_BREAKS:
            value = " ; "  # one line of a pasted list is one item, as after a semicolon
        elif category[0] in "CZ" or (category[0] in "PS" and char not in "+;,&/%.\u3001"):
            value = " "
        else:
            value = char.casefold()
        self[code] = value
        return value


_FOLD = _FoldTable()
# Marks that NFKD would spell out as letters ("Coumadin™" -> "coumadintm"): blanked first.
_MARKS = str.maketrans({"\u2122": " ", "\u2120": " ", "\u00ae": " ", "\u00a9": " "})


def fold(text: str) -> str:
    """Fold text for matching: NFKD compatibility form, no accents, no invisible
    characters, punctuation as spaces, case folded.

    Examples:
        >>> fold("ＣＬＡＲＩＴＨＲＯ\u00admycin (Phénytoïne)")
        'clarithromycin  phenytoine '
    """
    if " - " in text:  # a dash between spaces ends a list item ("Tukysa 150mg - famotidine"); "G-CSF" keeps its
        text = text.replace(" - ", " ; ")
    if "  " in text or "\t" in text:  # so do columns of an export, set apart by tabs or runs of spaces
        text = _COLUMN_GAP.sub(" ; ", text)
    if text.isascii():  # most names: nothing to decompose
        return text.translate(_FOLD)
    for dash in _SPACED_DASHES:
        text = text.replace(dash, " ; ")
    return unicodedata.normalize("NFKD", text.translate(_MARKS)).translate(_FOLD)


_COLUMN_GAP = re.compile(r"\t+| {2,}")
_SPACED_DASHES = (" \u2013 ", " \u2014 ", " \u2012 ", " \u2212 ")


def is_blank(text: str) -> bool:
    """True when the text holds nothing but spaces and invisible characters."""
    if text.isascii():
        return not text.strip()
    return not fold(text).strip()


def tokens(text: str) -> list[str]:
    """Split folded text into tokens (see ``_TOKEN``); a slash joins doses ("300mg/100mg") and
    separates anything else ("2HRZE/4HR")."""
    found: list[str] = _TOKEN.findall(text)
    if "/" not in text or not any("/" in token and len(token) > 1 for token in found):
        return found
    split: list[str] = []
    for token in found:
        if "/" in token and len(token) > 1 and not is_noise(token):
            for index, piece in enumerate(token.split("/")):
                if index:
                    split.append("/")
                if piece:
                    split.append(piece)
        else:
            split.append(token)
    return split


def is_cjk(token: str) -> bool:
    """True for a token of CJK ideographs."""
    # A token is all ideographs or none (see ``_TOKEN``): its first character decides, by range
    # comparison (a regex match per token cost more than the look-ups it guards).
    first = token[:1]
    return "\u3400" <= first <= "\u4dbf" or "\u4e00" <= first <= "\u9fff" or "\uf900" <= first <= "\ufaff"


def is_foreign_script(token: str) -> bool:
    """True for a word in a script other than Latin and CJK (Cyrillic, Greek...), once folded."""
    return not token.isascii() and not is_cjk(token)


def transliterated(token: str) -> str:
    """A word of another script in folded Latin letters ("Рифампицин" -> "rifampitsin"), for matching."""
    return "".join(char for char in anyascii(token).casefold() if char.isalnum())


@functools.cache
def _to_simplified() -> OpenCC:
    return OpenCC("t2s")


def simplified(text: str) -> str:
    """Chinese text in simplified characters (克拉黴素 -> 克拉霉素); simplified text is unchanged."""
    return str(_to_simplified().convert(text))


def is_separator(token: str) -> bool:
    """True for a punctuation token that separates several drugs on one line ("+", ",", "/"...)."""
    return token in _PUNCT_SEPARATORS


def is_word_separator(token: str) -> bool:
    """True for a joining word ("and", "with", "plus"): it separates drugs unless part of a known name."""
    return token in _WORD_SEPARATORS


@functools.lru_cache(maxsize=65536)  # doses and forms repeat from one name to the next
def is_noise(token: str) -> bool:
    """True for a token that never names a drug: a dose, unit, frequency, route, form or salt."""
    if token in NOISE_WORDS or token in NON_SYSTEMIC_WORDS:
        return True
    if "/" in token and token.split("/", 1)[0] in _UNITS:
        return True  # "mg/kg/d"
    if token[0].isdigit():
        if _FREQUENCY.fullmatch(token):
            return True
        # "500mg" and "0.5g" are doses; "131i" (radio-iodine), "3tc" and "5fu" are names.
        units = token.lstrip("0123456789.,")
        return all(unit in _UNITS for unit in units.split("/") if unit) or _is_ratio(units)
    return _FREQUENCY.fullmatch(token) is not None


def _is_ratio(units: str) -> bool:
    # "300mg/100mg": every part is a number with a unit.
    return "/" in units and all(part.lstrip("0123456789.,") in _UNITS for part in units.split("/"))


# USAN/INN stems: a word that ends in one is very likely a drug name, even one we do not know.
DRUG_STEMS = tuple(
    """
    mycin micin cillin cycline floxacin oxacin conazole azole vir navir previr asvir buvir tegravir mab nib tinib
    ciclib parib rafenib zomib lisib platin taxel rubicin mustine abine dipine pril sartan olol alol statin parin
    xaban gatran teplase prazole tidine setron afil triptan vaptan azepam barbital toin profen coxib olone trexate
    fosfamide domide grastim leukin kinra cept rozole lutamide relix tecan poside bicin stine
    """.split()
)


# Words that deny what follows ("no prior chemotherapy", "denies St John's wort"); in Chinese, what
# comes right before a name in the same run of characters (未行放化疗: "radio-chemotherapy not given").
NEGATIONS = frozenset({"no", "not", "never", "without", "denies", "denied", "nil", "avoid", "avoiding"})
_CHINESE_NEGATIONS = ("未使用", "未曾", "未行", "未用", "否认", "未", "无", "禁用", "避免")


def chinese_negation(before: str) -> str:
    """The negating word in ``before`` (the characters in front of a name) that ends at most two
    characters before the name (未行放化疗: 未行, then 放), or ""."""
    for word in _CHINESE_NEGATIONS:
        at = before.rfind(word)
        if at >= 0 and len(before) - (at + len(word)) <= 2:
            return word
    return ""


_CAPITALISED_WORD = re.compile(r"(?<![A-Za-z])[A-Z][A-Z]+(?![a-z])")


def capitalised_words(text: str) -> frozenset[str]:
    """The words written in capital letters in ``text``, folded ("VAC/IE x4" -> {"vac", "ie"})."""
    return frozenset(word.casefold() for word in _CAPITALISED_WORD.findall(text))


# The end of a manufacturer's name in Chinese (红旗制药, 扬子江药业): who made it, not what it is.
_CHINESE_MAKER = ("制药", "药业", "药厂", "集团", "公司", "生物")


def is_chinese_filler(text: str) -> bool:
    """True for Chinese text left over beside a name that names no drug: a manufacturer."""
    return is_cjk(text) and text.endswith(_CHINESE_MAKER)


def is_ordinary(text: str) -> bool:
    """True when every word of ``text`` is an everyday clinical word (``ORDINARY_WORDS``)."""
    return all(word in ORDINARY_WORDS for word in text.split(" "))


def looks_like_drug(word: str) -> bool:
    """True for a word that may name a drug we do not know: six letters or more ending in a drug-name
    stem ("conivaptan", "zz-mycin"), or a word in a script the tables do not cover ("Рифампицин")."""
    if is_foreign_script(word):
        return any(char.isalpha() for char in word)
    if word in _BLOCKER_LETTERS:
        return True
    return len(word) >= 6 and word.isalpha() and word.endswith(DRUG_STEMS)


# Single letters that stand for a blocker in shorthand: "/r" is a ritonavir boost ("lopinavir-r"),
# R is rifampicin in TB notation. Beside a name they are unread (review), never filler.
_BLOCKER_LETTERS = frozenset({"r"})


def skeleton(text: str) -> str:
    """The consonants of a name, doubled letters once: vowel slips ("ritanovir", "ketaconazole") keep it."""
    out: list[str] = []
    for char in text:
        if char in "aeiouy " or (out and out[-1] == char):
            continue
        out.append(char)
    return "".join(out)


def chinese_cores(word: str) -> tuple[str, str]:
    """A Chinese name without its formulation suffixes, then also without leading salt words:
    盐酸伊曲康唑胶囊 -> (盐酸伊曲康唑, 伊曲康唑). Leading words are tried second because some
    names begin with one (复方磺胺甲噁唑, the compound co-trimoxazole)."""
    suffixless = _trim_suffixes(word)
    return suffixless, _trim_prefixes(suffixless)


# Noise word lengths, longest first: trimming looks up the word's end (or start) of each length.
_CHINESE_NOISE_LENGTHS = sorted({len(word) for word in CHINESE_NOISE}, reverse=True)


def _trim_suffixes(word: str) -> str:
    """Drop the longest noise word at the end, again and again, never the whole word."""
    while True:
        for length in _CHINESE_NOISE_LENGTHS:
            if len(word) > length and word[-length:] in _CHINESE_NOISE_SET:
                word = word[:-length]
                break
        else:
            return word


def _trim_prefixes(word: str) -> str:
    """Drop the longest noise word at the start, again and again, never the whole word.
    One-character words (克 "gram", 片 "tablet") begin real names (克拉霉素): never trimmed in front."""
    while True:
        for length in _CHINESE_NOISE_LENGTHS:
            if length > 1 and len(word) > length and word[:length] in _CHINESE_NOISE_SET:
                word = word[length:]
                break
        else:
            return word


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


def may_be_non_systemic(folded: str, words: list[str]) -> bool:
    """A quick test: could ``read_route`` find a non-systemic form here?"""
    return not NON_SYSTEMIC_WORDS.isdisjoint(words) or _NON_SYSTEMIC_CHINESE_PATTERN.search(folded) is not None


def read_route(folded: str, words: list[str]) -> RouteReading:
    """Look for a non-systemic form or route (cream, eye drops, 乳膏...) in folded text."""
    evidence = ""
    for index, word in enumerate(words):
        if word in NON_SYSTEMIC_WORDS and not _food(words, index):
            evidence = word
            break
        if index + 1 < len(words) and (word, words[index + 1]) in _NON_SYSTEMIC_BIGRAMS:
            evidence = f"{word} {words[index + 1]}"
            break
    if not evidence and (found := _NON_SYSTEMIC_CHINESE_PATTERN.search(folded)):
        evidence = found.group()
    if evidence and not any(word in _SYSTEMIC_OVERRIDES for word in words) and not _SYSTEMIC_CHINESE.search(folded):
        return RouteReading(systemic=False, evidence=evidence)
    return RouteReading(systemic=True)


def _food(words: list[str], index: int) -> bool:
    """True when the word at ``index`` is part of a food named with a form word ("cream cheese")."""
    pair_after = (words[index], words[index + 1]) if index + 1 < len(words) else None
    pair_before = (words[index - 1], words[index]) if index else None
    return pair_after in _NOT_A_FORM or pair_before in _NOT_A_FORM
