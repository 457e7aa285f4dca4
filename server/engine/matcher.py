"""Reading free-text medication names: exact look-up over a normalised alias index, then fuzzy.

The index is built once from the knowledge base, with a reading precomputed for every
known name. Most inputs are a known name with doses, forms and salts around it, a Chinese
name with its formulation suffix, a list of such names or one misspelt word: a fast path
answers those from the precomputed readings (tests hold it to the full reader's answers).
The full reader folds and tokenises, splits at list separators ("+", ",", "/"), and reads
each part greedily: the longest run of tokens that is a known alias wins (so "sodium
chloride", "St John's wort" and "Coversyl Plus" are names, not noise). Chinese runs are
read by longest known substring, formulation words winning over names inside them. What
is left, once doses, routes and forms are dropped, is matched fuzzily: first the names
one slip away (symmetric deletions), then rapidfuzz over length-compatible aliases, with
a review band between a match and no match. Readings are cached per distinct string.
"""

from __future__ import annotations

import bisect
import functools
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from . import normalise as norm
from .knowledge import Entry, KnowledgeBase
from .model import Match, MatchMethod, ResolutionStatus

_BESIDE_A_NAME_SCORE = 80.0
# Columns of the per-key character counts behind the fuzzy pre-filter: ASCII letters, digits
# and space fall in columns of their own; other scripts share columns (a looser bound).
_BUCKETS = 64
# A truncation must keep most of the name: "clarithro" (78) is clarithromycin, "cef" is nothing.
_PREFIX_MIN_SCORE = 60.0
# Unknown words in a row beyond which an input is prose: comparing each one fuzzily would let a
# request of random text hold a worker for most of a second.
_MAX_UNKNOWN_RUN = 12


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """Thresholds of the fuzzy stage and the size of the reading cache.

    A fuzzy candidate at or above ``accept_score`` that leads every candidate with
    other ingredients by at least ``margin`` is a match; so is the only candidate in the
    band when it reaches ``lone_accept_score``, a name whose consonants are those of
    exactly one known name and no other (a vowel slip: "ritanovir"), and a word of at
    least ``min_prefix_length`` letters that begins the names of one ingredient only
    ("clarithro"). Anything else at or above ``review_score`` is shown to a pharmacist;
    ``chinese_review_score`` is lower because Chinese names are short (one wrong character of
    three scores 67: 扑米铜 for 扑米酮). A Chinese name of four or more characters with one
    character wrong (an input-method slip: 伊曲糠唑 for 伊曲康唑, 75) is taken when it is the only
    candidate and a restricted agent, from ``chinese_lone_accept_score``.
    """

    accept_score: float = 85.0
    review_score: float = 70.0
    chinese_review_score: float = 60.0
    margin: float = 4.0
    lone_accept_score: float = 78.0
    chinese_lone_accept_score: float = 75.0
    min_fuzzy_length: int = 4
    min_prefix_length: int = 5
    cache_size: int = 65536


@dataclass(frozen=True, slots=True)
class Reading:
    """How one text was read: status, matches (or candidates) and remarks."""

    status: ResolutionStatus
    matches: tuple[Match, ...]
    notes: tuple[str, ...] = ()
    unread: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Target:
    """What an alias stands for: one row of a drug table."""

    row: str
    ingredients: tuple[str, ...]
    alias: str
    method: MatchMethod


@dataclass(slots=True)
class _Part:
    """The reading of one part of a name, before matches are assembled."""

    text: str
    targets: tuple[_Target, ...]
    score: float
    fuzzy: bool = False
    candidates: tuple[tuple[_Target, float], ...] = ()
    rule: str = ""
    # Accepted below the match score only because nothing else came close: fine for a name typed
    # alone, not for a word beside a recognised name ("level" beside tacrolimus is not Aleve).
    lone: bool = False
    # The route its own list item gives ("ketoconazole shampoo" in "ketorolac IV, ketoconazole shampoo");
    # None: the route of the whole text.
    route: norm.RouteReading | None = None

    def demote(self) -> _Part:
        """Keep what was read only as candidates, at the score it was read with."""
        self.candidates, self.targets = tuple((target, self.score) for target in self.targets), ()
        return self


class _FuzzyVocabulary:
    """Alias keys with what bounds their ``fuzz.ratio`` to a query, so that a query is compared
    only with keys that can reach the review score.

    ``fuzz.ratio`` is 200 * LCS / (len(a) + len(b)), and the longest common subsequence cannot
    be longer than the characters the two strings share counted with multiplicity. Characters
    are folded into ``_BUCKETS`` classes by code point, which only loosens the bound, so a key
    left out could never have reached the review score. The shared count is a sum of 0/1 rows
    "the key has at least j characters of class b", one row per character of the query (a
    single gather and sum). The survivors keep the order of ``keys``, so ties rank as in a
    full scan.
    """

    def __init__(self, keys: list[str]) -> None:
        self.keys = sorted(keys, key=len)
        self._key_lengths = np.array([len(key) for key in self.keys], dtype=np.int32)
        counts = np.zeros((_BUCKETS, len(self.keys)), dtype=np.int32)
        buckets = [ord(char) % _BUCKETS for key in self.keys for char in key]
        columns = np.repeat(np.arange(len(self.keys)), self._key_lengths)
        np.add.at(counts, (np.array(buckets, dtype=np.intp), columns), 1)
        # Row of "at least j of class b" (j = 1..deepest in any key); a query's j-th character of
        # class b beyond that can match nothing, so it adds no row.
        self._row_of: list[list[int]] = []
        blocks: list[np.ndarray] = []
        first = 0
        for bucket in range(_BUCKETS):
            deepest = int(counts[bucket].max(initial=0))
            self._row_of.append(list(range(first, first + deepest)))
            first += deepest
            levels = np.arange(1, deepest + 1, dtype=np.int32)[:, None]
            blocks.append((counts[bucket][None, :] >= levels).astype(np.uint8))
        self._at_least = np.concatenate(blocks) if first else np.zeros((0, len(self.keys)), dtype=np.uint8)
        self._needed: dict[tuple[float, int], np.ndarray] = {}
        self._alphabetical = sorted(keys)
        # Symmetric-delete index (as in SymSpell): every key under itself and each one-letter
        # deletion, so the keys one slip away from a query (a wrong, missing, extra or swapped
        # letter) are found with a few dictionary look-ups instead of a scan.
        self._deletions: dict[str, list[str]] = defaultdict(list)
        for key in keys:
            for variant in {key, *_deletions(key)}:
                self._deletions[variant].append(key)

    def one_slip_away(self, query: str) -> set[str]:
        """The keys within one edit (substitution, insertion, deletion or swap) of ``query``."""
        found: set[str] = set()
        for variant in {query, *_deletions(query)}:
            found.update(self._deletions.get(variant, ()))
        return found

    def _shared_needed(self, min_score: float, length: int) -> np.ndarray:
        """Per key, the fewest shared characters that let a query of ``length`` reach ``min_score``."""
        needed = self._needed.get((min_score, length))
        if needed is None:
            fewest = np.ceil(min_score * (self._key_lengths + length) / 200.0 - 1e-9)
            needed = self._needed[(min_score, length)] = np.clip(fewest, 0, 255).astype(np.uint8)
        return needed

    def starting_with(self, prefix: str) -> list[str]:
        """Every key that begins with ``prefix``."""
        start = bisect.bisect_left(self._alphabetical, prefix)
        end = bisect.bisect_left(self._alphabetical, prefix + "\U0010ffff")
        return self._alphabetical[start:end]

    def candidates(self, query: str, min_score: float) -> list[str]:
        """The keys whose ``fuzz.ratio`` to ``query`` may reach ``min_score``, in the order of ``keys``."""
        if len(query) > 255:  # the shared counts below are bytes
            return self.keys
        seen: dict[int, int] = {}
        rows: list[int] = []
        for char in query:
            bucket = ord(char) % _BUCKETS
            level = seen.get(bucket, 0)
            seen[bucket] = level + 1
            if level < len(self._row_of[bucket]):
                rows.append(self._row_of[bucket][level])
        shared = self._at_least[rows].sum(axis=0, dtype=np.uint8)
        reachable = np.flatnonzero(shared >= self._shared_needed(min_score, len(query)))
        keys = self.keys
        return [keys[index] for index in reachable.tolist()]


class Resolver:
    """Reads names against one knowledge base; safe to share between threads."""

    def __init__(self, knowledge: KnowledgeBase, settings: MatchSettings | None = None) -> None:
        self.settings = settings or MatchSettings()
        self._categories = knowledge.ingredient_categories
        self._latin: dict[str, tuple[_Target, ...]] = {}
        self._compact: dict[str, tuple[_Target, ...]] = {}
        self._chinese: dict[str, tuple[_Target, ...]] = {}
        self._build(knowledge.entries)
        # Very short keys (regimen abbreviations such as "VIDE") only ever match exactly:
        # as fuzzy targets they attract ordinary words ("divided").
        self._latin_fuzzy = _FuzzyVocabulary([k for k in self._latin if len(k) >= 5])
        self._chinese_fuzzy = _FuzzyVocabulary([k for k in self._chinese if len(k) >= 3])
        self._chinese_max = max((len(key) for key in self._chinese), default=0)
        self._latin_max = max((len(key) for key in self._latin), default=0)
        self._first_words = frozenset(key.split(" ", 1)[0] for key in self._latin if " " in key)
        self._max_words = max((key.count(" ") + 1 for key in self._latin), default=1)
        self._skeletons = self._build_skeletons()
        self._direct = self._build_direct()
        known = frozenset(self._latin) | frozenset(self._compact) | frozenset(self._chinese)
        self._everyday_words = knowledge.everyday_words
        # Regimens whose abbreviation is also a common word ("ICE", "BEAM", "VAC", "chop"): read with
        # confidence only when written in capitals, as regimens are ("ice pack" is not ICE).
        regimens = {entry.name for entry in knowledge.entries if entry.kind == "regimen"}
        self._capitals_only = frozenset(
            key
            for key in knowledge.everyday_words & known
            if all(target.row in regimens for target in self._latin.get(key, ()) + self._compact.get(key, ()))
        )
        self.read = functools.lru_cache(maxsize=self.settings.cache_size)(self._read)

    @property
    def vocabulary_size(self) -> int:
        """The number of distinct alias keys in the index."""
        return len(self._latin) + len(self._chinese)

    # -- index ---------------------------------------------------------------------

    def _build(self, entries: tuple[Entry, ...]) -> None:
        latin: dict[str, dict[str, _Target]] = defaultdict(dict)
        compact: dict[str, dict[str, _Target]] = defaultdict(dict)
        chinese: dict[str, dict[str, _Target]] = defaultdict(dict)
        for entry in entries:
            combination = entry.kind != "ingredient"
            named = [(entry.name, MatchMethod.EXACT)]
            named += [(text, MatchMethod.EXACT) for text in entry.synonyms]
            named += [(text, MatchMethod.BRAND) for text in entry.brands]
            named += [(text, MatchMethod.CHINESE) for text in entry.chinese_names]
            for text, method in named:
                target = _Target(
                    entry.name, entry.ingredients, text, MatchMethod.COMBINATION if combination else method
                )
                words = [w for w in norm.tokens(norm.fold(text)) if not norm.is_separator(w)]
                if not words or (len(words) == 1 and norm.is_noise(words[0])):
                    continue  # a one-word name that is also a dose or form word cannot be told from noise
                if len(words) == 1 and norm.is_cjk(words[0]):
                    chinese[words[0]].setdefault(entry.name, target)
                else:
                    latin[norm.key_of(words)].setdefault(entry.name, target)
                    compact[norm.compact_key_of(words)].setdefault(entry.name, target)
        self._latin = {key: tuple(targets.values()) for key, targets in latin.items()}
        self._compact = {key: tuple(targets.values()) for key, targets in compact.items()}
        self._chinese = {key: tuple(targets.values()) for key, targets in chinese.items()}

    def _build_skeletons(self) -> dict[str, tuple[str, ...] | None]:
        """Consonant skeleton -> the one reading that has it (None when several readings share it)."""
        skeletons: dict[str, tuple[str, ...] | None] = {}
        for key, targets in self._latin.items():
            shape = norm.skeleton(key)
            if len(shape) < 4:
                continue
            readings = {tuple(sorted(t.ingredients)) for t in targets}
            reading = readings.pop() if len(readings) == 1 else None
            if shape in skeletons and skeletons[shape] != reading:
                reading = None
            skeletons[shape] = reading
        return skeletons

    def _build_direct(self) -> dict[str, Reading]:
        """Precomputed readings for names typed as a known name plus doses, units and forms only.

        Some longer names reduce to a shorter one once their noise words are dropped ("Biaxin XL"
        -> "biaxin"), and a few names are made of noise words only ("sodium chloride"). The words
        that could complete such a name are kept beside the readings, and the fast path answers
        only when the input holds none of them: it never reads differently from the full path.
        """
        shadowing: dict[str, set[str]] = defaultdict(set)
        noise_only: list[frozenset[str]] = []
        for key in self._latin:
            words = key.split(" ")
            content = [w for w in words if not norm.is_noise(w)]
            if not content:
                noise_only.append(frozenset(words))
            elif content != words:
                shadowing[norm.key_of(content)].update(w for w in words if norm.is_noise(w))
        self._shadowing = {key: frozenset(words) for key, words in shadowing.items()}
        self._noise_names = tuple(noise_only)
        self._noise_name_words = frozenset().union(*noise_only)
        direct: dict[str, Reading] = {}
        systemic = norm.RouteReading(systemic=True)
        for key, targets in self._latin.items():
            if not any(norm.is_noise(w) or norm.is_word_separator(w) for w in key.split(" ")):
                direct[key] = self._assemble([_Part(key, targets, 100.0)], [], [], systemic)
        for key, targets in self._chinese.items():
            direct[key] = self._assemble([_Part(key, targets, 100.0)], [], [], systemic)
        return direct

    def _completes_a_longer_name(self, key: str, words: list[str]) -> bool:
        """True when ``words`` may hold a name longer than ``key`` or a name made of noise words."""
        return self._shadowed(key, words) or self._holds_a_noise_name(words)

    def _shadowed(self, key: str, words: list[str]) -> bool:
        """True when ``words`` hold a word of a longer name that reduces to ``key``."""
        guard = self._shadowing.get(key)
        return guard is not None and not guard.isdisjoint(words)

    def _holds_a_noise_name(self, words: list[str]) -> bool:
        """True when ``words`` hold every word of a name made of noise words ("sodium chloride")."""
        if self._noise_name_words.isdisjoint(words):
            return False
        present = set(words)
        return any(name <= present for name in self._noise_names)

    # -- reading -------------------------------------------------------------------

    def _read(self, text: str) -> Reading:
        folded = norm.fold(text)
        words = norm.tokens(folded)
        lowercase_regimens = self._lowercase_regimens(text, words)
        if words and not lowercase_regimens and not norm.may_be_non_systemic(folded, words):
            fast = self._read_fast(folded, words)
            if fast is not None:
                return fast
        return self._read_full(folded, words, lowercase_regimens)

    def _lowercase_regimens(self, text: str, words: list[str]) -> frozenset[str]:
        """The regimen abbreviations in ``words`` that are also common words and are not written in capitals."""
        present = self._capitals_only.intersection(words)
        return frozenset(present - norm.capitalised_words(text)) if present else frozenset()

    def _read_full(self, folded: str, words: list[str], lowercase_regimens: frozenset[str] = frozenset()) -> Reading:
        """The general reader; ``_read_fast`` must agree with it wherever it answers."""
        route = norm.read_route(folded, words)
        parts: list[_Part] = []
        unread: list[str] = []
        ignored: list[str] = []
        whole = [w for w in words if not norm.is_separator(w)]
        whole_hit = None
        if 1 < len(whole) < len(words):  # "lopinavir/ritonavir", "SQV/r 500 mg" may be names in their own right
            whole_hit = self._exact(whole) or self._exact([w for w in whole if not norm.is_noise(w)])
        if whole_hit:
            parts.append(_Part(" ".join(whole), whole_hit, 100.0))
        else:
            self._read_segments(_segments(words), parts, unread, ignored, lowercase_regimens)
            if parts and unread:
                # Everyday words in a list item of their own ("..., PJP prophylaxis", "no further doses")
                # are filler too, but not one that begins a restricted agent's name: a list item is a
                # drug's place, and shorthand there ("rito 100mg", "keto", "cis") is a name we could not read.
                filler, unread = self._split_list_filler(unread)
                ignored += filler
        return self._assemble(parts, unread, ignored, route)

    def _read_segments(
        self,
        segments: list[list[str]],
        parts: list[_Part],
        unread: list[str],
        ignored: list[str],
        lowercase_regimens: frozenset[str],
    ) -> None:
        """Read each list item, and give each name read in it the route of its own words: a shampoo
        does not make a tablet topical, nor an IV a shampoo systemic, whether in another item or in
        the same one ("Paxlovid and hydrocortisone cream"). A list item of nothing but form and route
        words ("Nizoral 2%, shampoo") speaks for the one before."""
        previous: list[_Part] = []
        for segment in segments:
            before = len(parts)
            self._read_segment(segment, parts, unread, ignored, lowercase_regimens)
            found = parts[before:]
            if found:
                _give_routes(found, segment)
                previous = found
                continue
            route = norm.read_route(" ".join(segment), segment)
            if not route.systemic and all(norm.is_noise(word) for word in segment):
                for part in previous:
                    part.route = route

    def _read_fast(self, folded: str, words: list[str]) -> Reading | None:
        """The common cases without the general machinery: a known name with doses and forms around it,
        a Chinese name with its formulation suffix, or a single misspelt word. ``None``: take the full path."""
        content = [w for w in words if not norm.is_noise(w)]
        if len(content) != 1:
            if not content:
                return None
            key = norm.key_of(content)
            direct = self._direct.get(key)
            if direct is not None and len(content) < len(words) and self._completes_a_longer_name(key, words):
                return None
            if direct is not None or not any(norm.is_separator(w) for w in content):
                return direct
            return self._read_list(content, words)
        word = content[0]
        direct = self._direct.get(word)
        if direct is not None:
            if len(words) > 1 and self._completes_a_longer_name(word, words):
                return None
            return direct
        if norm.is_cjk(word):
            suffixless, core = norm.chinese_cores(word)
            return self._direct.get(suffixless) or self._direct.get(core)
        if len(words) != 1 or norm.is_separator(word) or norm.is_word_separator(word) or self._exact([word]):
            return None  # a lone misspelt word only: anything else may hold a longer name
        parts: list[_Part] = []
        unread: list[str] = []
        self._read_fuzzy([word], parts, unread)
        return self._assemble(parts, unread, [], norm.RouteReading(systemic=True))

    def _read_list(self, content: list[str], words: list[str]) -> Reading | None:
        """Several known names in one line ("rifampin, isoniazid" or "Kaletra (lopinavir/ritonavir)"):
        the precomputed readings merged, as the full reader would; ``None`` if any part is not one."""
        if self._holds_a_noise_name(words):
            return None
        whole_key = norm.key_of([w for w in content if not norm.is_separator(w)])
        whole = self._direct.get(whole_key)
        if whole is not None:
            return None if self._shadowed(whole_key, words) else whole
        readings = []
        for segment in _segments(content):
            key = norm.key_of(segment)
            reading = self._direct.get(key)
            if reading is None or self._shadowed(key, words):
                return None
            readings.append(reading)
        matches: dict[str, Match] = {}
        candidates: dict[str, Match] = {}
        notes: list[str] = []
        for reading in readings:
            if reading.notes:
                notes.extend(note for note in reading.notes if note not in notes)
            for match in reading.matches:
                kept = candidates if match.method is MatchMethod.REVIEW_BAND else matches
                if match.ingredient not in kept or kept[match.ingredient].score < match.score:
                    kept[match.ingredient] = match
        for ingredient in matches:
            candidates.pop(ingredient, None)
        status = ResolutionStatus.AMBIGUOUS if candidates else ResolutionStatus.RESOLVED
        return Reading(status, tuple(matches.values()) + tuple(candidates.values()), tuple(notes))

    def _exact(self, words: list[str]) -> tuple[_Target, ...] | None:
        if len(words) == 1:
            word = words[0]
            if norm.is_cjk(word):
                return self._chinese.get(word)
            hit = self._latin.get(word) or self._compact.get(word)
            if hit is None and word[0].isdigit():
                # Months before a TB regimen ("2HRZE") or a count before a name: try without them.
                letters = word.lstrip("0123456789")
                if len(letters) >= 2 and not norm.is_noise(word):
                    hit = self._latin.get(letters)
            return hit
        return self._latin.get(norm.key_of(words)) or self._compact.get(norm.compact_key_of(words))

    def _read_segment(
        self,
        words: list[str],
        parts: list[_Part],
        unread: list[str],
        ignored: list[str],
        lowercase_regimens: frozenset[str] = frozenset(),
    ) -> None:
        found: list[_Part] = []
        runs: list[list[str]] = []
        run: list[str] = []
        # Where each run of unread words begins and ends, where each name begins and where the joining
        # words stand: a run set off from every name by "and", "with", "plus" is an item of its own.
        spans: list[tuple[int, int] | None] = []
        name_at: list[int] = []
        joins: list[int] = []
        # A negating word ("no", "denies") in force: names after it are only candidates, until a word
        # that is neither filler nor a name ends its reach ("No prior chemotherapy or radiotherapy").
        negation = ""
        index = 0

        def close_run() -> None:
            nonlocal run
            spans.append((index - len(run), index) if run else None)
            runs.append(run)
            run = []

        while index < len(words):
            # The longest run of words that is a known name wins, whatever the words are:
            # "sodium chloride", "Coversyl Plus" and "维A酸" are names, not noise.
            longest = min(self._max_words, len(words) - index) if words[index] in self._first_words else 1
            for size in range(longest, 0, -1):
                span = words[index : index + size]
                targets = self._exact(span)
                if targets:
                    close_run()
                    name_at.append(index)
                    text = " ".join(span)
                    if negation:
                        found.append(_unconfirmed(text, targets, f"negated ('{negation}')"))
                    elif text in lowercase_regimens:
                        rule = f"a common word here; the regimen {targets[0].alias} is written in capitals"
                        found.append(_unconfirmed(text, targets, rule))
                    else:
                        found.append(_Part(text, targets, 100.0))
                    index += size
                    break
            else:
                word = words[index]
                if norm.is_cjk(word):
                    close_run()
                    pieces = self._read_ideographs(word, found)
                    runs.extend([piece] for piece in pieces)
                    spans.extend(None for _ in pieces)
                elif norm.is_noise(word) or norm.is_word_separator(word):
                    close_run()
                    if norm.is_word_separator(word):
                        joins.append(index)
                elif word in norm.NEGATIONS:
                    close_run()
                    negation = word
                    ignored.append(word)
                else:
                    run.append(word)
                    if not self._is_filler(word):
                        negation = ""
                index += 1
        close_run()
        leftover_parts: list[_Part] = []
        leftover_text: list[str] = []
        for piece, where in zip(runs, spans, strict=True):
            if not piece:
                continue
            if found and where is not None and _set_apart(where, name_at, joins):
                # "Tukyass and ondansetron": not a word about ondansetron but another drug, misspelt.
                own_parts: list[_Part] = []
                own_text: list[str] = []
                self._read_fuzzy(piece, own_parts, own_text)
                parts.extend(own_parts)
                filler, rest = self._split_list_filler(own_text)
                unread.extend(rest)
                ignored.extend(filler)
            else:
                self._read_fuzzy(piece, leftover_parts, leftover_text)
        if found:
            # Words beside a recognised name are usually filler ("for pneumonia"): keep
            # confident readings, and candidates only when one of them would block. A word
            # that looks like a drug we do not know ("conivaptan") is never dropped silently.
            parts.extend(found)
            for part in leftover_parts:
                if part.lone:  # beside a name a lone reading (always of a restricted agent) is only a candidate
                    part.demote()
                if not part.candidates or part.lone or self._strong_blocking_candidate(part):
                    parts.append(part)
                else:
                    leftover_text.append(part.text)
            for text in leftover_text:
                if any(norm.looks_like_drug(word) for word in text.split()):
                    unread.append(text)
                else:
                    ignored.append(text)
        else:
            parts.extend(leftover_parts)
            unread.extend(leftover_text)

    def _read_ideographs(self, word: str, found: list[_Part]) -> list[str]:
        """``_read_chinese``, then the pieces left unread once more in simplified characters
        (克拉黴素 -> 克拉霉素): the tables hold simplified names, records may be in traditional ones."""
        leftovers: list[str] = []
        for piece in self._read_chinese(word, found):
            simplified = norm.simplified(piece)
            leftovers.extend([piece] if simplified == piece else self._read_chinese(simplified, found))
        return leftovers

    def _read_chinese(self, word: str, found: list[_Part]) -> list[str]:
        """Read a run of CJK ideographs by longest known name; return the unread pieces."""
        leftovers: list[str] = []
        pending = held = ""
        index = 0
        while index < len(word):
            size, targets = 0, None
            for length in range(min(self._chinese_max, len(word) - index), 1, -1):
                targets = self._chinese.get(word[index : index + length])
                if targets:
                    size = length
                    break
            # A formulation word longer than the name inside it wins: 白蛋白结合型 ("albumin-bound")
            # describes paclitaxel's form, it is not albumin.
            for length in range(min(norm.CHINESE_NOISE_MAX, len(word) - index), size, -1):
                if norm.is_chinese_noise(word[index : index + length]):
                    size, targets = length, None
                    break
            if not size:
                pending += held + word[index]
                held = ""
                index += 1
                continue
            if targets is None and (pending or index == 0):
                # A filler word inside unread text, or at its start, may be part of a misspelt name
                # (环磷酸胺: 磷酸 "phosphate" inside cyclophosphamide misspelt; 克拉酶素: 克 "gram"):
                # it is dropped only if a name or the end follows, else kept with the text around it.
                held += word[index : index + size]
                index += size
                continue
            if targets:
                name = word[index : index + size]
                negation = norm.chinese_negation(word[:index])
                found.append(
                    _unconfirmed(name, targets, f"negated ('{negation}')") if negation else _Part(name, targets, 100.0)
                )
            if len(pending) > 1:
                leftovers.append(pending)
            pending = held = ""
            index += size
        if len(pending) > 1:
            leftovers.append(pending)
        return leftovers

    def _read_fuzzy(self, run: list[str], parts: list[_Part], unread: list[str]) -> None:
        query = " ".join(run)
        if len(run) > _MAX_UNKNOWN_RUN:
            unread.append(query)  # prose, not a name: for a pharmacist to read, not compared word by word
            return
        part = self._fuzzy(query)
        if (part is None or part.candidates) and len(run) > 1:
            singles = [self._fuzzy(word) for word in run]
            confident = [p for p in singles if p is not None and not p.candidates]
            if confident:
                parts.extend(confident)
                return
            reviewed = [p for p in singles if p is not None]
            if part is None and reviewed:
                parts.extend(reviewed)
                return
        if part is None:
            unread.append(query)
        else:
            parts.append(part)

    def _fuzzy(self, query: str) -> _Part | None:
        part = self._fuzzy_reading(query)
        if part is not None and part.targets and " " not in query and self._is_everyday(query):
            # A common word close to a brand is the word, not the brand misspelt ("core" is not Coreg,
            # "proton" beam is not Protonix): its readings are only shown as candidates.
            part.demote().lone = False
        return part

    def _fuzzy_reading(self, query: str) -> _Part | None:
        if norm.is_foreign_script(query):
            return self._transliterated(query)
        settings = self.settings
        chinese = norm.is_cjk(query)
        if len(query) < (2 if chinese else settings.min_fuzzy_length) or norm.is_ordinary(query):
            return None
        if len(query) > 2 * (self._chinese_max if chinese else self._latin_max):
            return None  # longer than any name misspelt: text, not a name (and costly to compare with every name)
        vocabulary = self._chinese_fuzzy if chinese else self._latin_fuzzy
        index = self._chinese if chinese else self._latin
        if not chinese:
            near = self._one_slip(query)
            if near is not None:
                return near
        review_score = settings.chinese_review_score if chinese else settings.review_score
        choices = vocabulary.candidates(query, review_score)
        if not choices:
            return None
        scored = process.extract(query, choices, scorer=fuzz.ratio, processor=None, limit=8, score_cutoff=review_score)
        best_by_reading: dict[tuple[str, ...], tuple[_Target, float]] = {}
        best_key = ""
        for key, score, _ in scored:
            best_key = best_key or key  # ``extract`` ranks best first
            for target in index[key]:
                reading = tuple(sorted(target.ingredients))
                if reading not in best_by_reading or best_by_reading[reading][1] < score:
                    best_by_reading[reading] = (target, float(score))
        ranked = sorted(best_by_reading.values(), key=lambda pair: -pair[1])
        if not chinese:
            prefixed = self._unique_prefix(query)
            if prefixed is not None:
                if self._restricts(prefixed.targets[0]):
                    return prefixed
                # A harmless truncation is shown for review, not taken: that would be a guess at "eligible".
                ranked = ranked or [(prefixed.targets[0], prefixed.score)]
        if not ranked:
            return None
        best_target, best_score = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if self._restricted_contender(ranked, settings.accept_score):
            # A confident-looking harmless reading must not hide a restricted agent that also reads
            # well ("platanol": Patanol 93, Platinol 88): a false "eligible" is the worst failure.
            return _Part(query, (), best_score, fuzzy=True, candidates=tuple(ranked[:4]))
        if best_score >= settings.accept_score and best_score - runner_up >= settings.margin:
            cut_short = None
            if not chinese and not self._restricts(best_target) and len(query) >= settings.min_prefix_length:
                cut_short = self._restricted_beginning_with(query)
            if cut_short is not None:
                # "clarit" reads as Claritin (86) but begins clarithromycin: a guess at "eligible" either way.
                return _Part(
                    query, (), best_score, fuzzy=True, candidates=((best_target, best_score), (cut_short, 100.0))
                )
            return _Part(query, (best_target,), best_score, fuzzy=True)
        # A lone candidate is a slip of the typist only if the lengths agree: "nivo" (80 against "incivo")
        # is a fragment of another name, not telaprevir misspelt. And it is taken only when it restricts
        # something: a harmless guess would make "eligible" out of a name we do not know ("Difenin",
        # phenytoin sold in Russia, scores 80 against Differin).
        if len(ranked) == 1 and self._restricts(best_target) and self._a_slip_of(query, best_key, best_score):
            return _Part(
                query, (best_target,), best_score, fuzzy=True, rule="the only candidate in the review band", lone=True
            )
        slip = None if chinese else self._vowel_slip(query, scored, best_score)
        if slip is not None:
            return slip
        return _Part(query, (), best_score, fuzzy=True, candidates=tuple(ranked[:4]))

    def _vowel_slip(self, query: str, scored: list[tuple[str, float, int]], best_score: float) -> _Part | None:
        """The name whose consonants ``query`` has, when that name itself is among the close candidates,
        no other reading shares the consonants, and it restricts something ("ritanovir": ritonavir).

        The name must be in the band itself: "acitrom" (Acitrom, acenocoumarol) has the consonants of
        Cotrim (61) and must not be read as co-trimoxazole through Bactrim (71). A harmless reading is
        not taken: that would be a guess at "eligible" for a name we do not know.
        """
        shape = norm.skeleton(query)
        reading = self._skeletons.get(shape)
        if reading is None:
            return None
        for key, score, _ in scored:
            if norm.skeleton(key) != shape or best_score - score >= self.settings.margin:
                continue
            for target in self._latin[key]:
                if tuple(sorted(target.ingredients)) == reading and self._restricts(target):
                    return _Part(query, (target,), float(score), fuzzy=True, rule="same consonants, a vowel slip")
        return None

    def _a_slip_of(self, query: str, key: str, score: float) -> bool:
        """True when ``query`` reads as ``key`` mistyped rather than as a fragment of another name:
        a Latin name of about the same length, or a Chinese name of the same length, four characters
        at least, with one character wrong (a Chinese name of three with one wrong scores only 67)."""
        settings = self.settings
        if norm.is_cjk(query):
            wrong = sum(mine != theirs for mine, theirs in zip(query, key, strict=False))
            return score >= settings.chinese_lone_accept_score and len(query) == len(key) >= 4 and wrong == 1
        return score >= settings.lone_accept_score and abs(len(key) - len(query)) <= 1

    def _transliterated(self, query: str) -> _Part | None:
        """A name in a script the tables do not cover, read in Latin letters: never better than fuzzy."""
        latin = " ".join(norm.transliterated(word) for word in query.split(" "))
        if not latin.strip() or norm.is_foreign_script(latin):
            return None
        rule = f"transliterated as '{latin}'"
        targets = self._exact(latin.split(" "))
        part = _Part(query, targets, 100.0, fuzzy=True) if targets else self._fuzzy(latin)
        if part is not None:
            part.text = query
            part.rule = f"{rule}; {part.rule}" if part.rule else rule
        return part

    def _one_slip(self, query: str) -> _Part | None:
        """The fast path for the commonest typo: one slip away from the names of a single ingredient,
        and from no other name. Anything less clear-cut goes through the full comparison."""
        keys = self._latin_fuzzy.one_slip_away(query)
        if not keys:
            return None
        targets = [target for key in keys for target in self._latin[key]]
        if len({tuple(sorted(t.ingredients)) for t in targets}) != 1:
            return None
        # Highest score first; on a tie, the canonical name, then the shortest key (stable across runs).
        score, _, _, best = max(
            (fuzz.ratio(query, key), self._latin[key][0].row.casefold() == key, -len(key), key) for key in keys
        )
        if score < self.settings.accept_score:
            return None
        target = self._latin[best][0]
        if not self._restricts(target):
            # A harmless reading must not hide a restricted agent that also reads well: "oviconazole" is one
            # slip from oxiconazole and two from voriconazole (87).
            contender = self._restricted_near(query)
            if contender is not None:
                return _Part(query, (), float(score), fuzzy=True, candidates=((target, float(score)), contender))
        # The beginning of a name of something else is another reading ("neupo": Neupro misspelt, or
        # Neupogen cut short; "paxl": Paxil or Paxlovid): both are shown, neither is taken.
        reading = tuple(sorted(target.ingredients))
        truncated = [
            other
            for key in self._latin_fuzzy.starting_with(query)
            if " " not in key  # "vincristin" begins "vincristine dactinomycin..." too, which is no other reading
            for other in self._latin[key]
            if tuple(sorted(other.ingredients)) != reading
        ]
        if truncated:
            return _Part(
                query, (), float(score), fuzzy=True, candidates=((target, float(score)), (truncated[0], 100.0))
            )
        return _Part(query, (target,), float(score), fuzzy=True, rule="one slip from a single known name")

    def _restricted_near(self, query: str) -> tuple[_Target, float] | None:
        """The restricted agent whose name comes closest to ``query``, if one reaches the accept score."""
        floor = self.settings.accept_score
        best: tuple[_Target, float] | None = None
        for key in self._latin_fuzzy.candidates(query, floor):
            restricted = [target for target in self._latin[key] if self._restricts(target)]
            if restricted:
                score = float(fuzz.ratio(query, key))
                if score >= floor and (best is None or score > best[1]):
                    best = (restricted[0], score)
        return best

    def _restricted_beginning_with(self, word: str) -> _Target | None:
        """A restricted agent one of whose one-word names begins with ``word``, if any."""
        if " " in word:
            return None
        for key in self._latin_fuzzy.starting_with(word):
            for target in self._latin[key]:
                if " " not in key and self._restricts(target):
                    return target
        return None

    def _restricts(self, target: _Target) -> bool:
        """True when an ingredient of ``target`` is in a screened category."""
        return any(self._categories.get(ingredient) for ingredient in target.ingredients)

    def _restricted_contender(self, ranked: list[tuple[_Target, float]], floor: float) -> bool:
        """True when the best reading restricts nothing but another candidate scoring at least
        ``floor`` is a restricted agent."""
        best, _ = ranked[0]
        if self._restricts(best):
            return False
        return any(score >= floor and self._restricts(target) for target, score in ranked[1:])

    def _unique_prefix(self, query: str) -> _Part | None:
        """A truncated name ("clarithro") that begins the names of one ingredient only."""
        if len(query) < self.settings.min_prefix_length or " " in query:
            return None
        # Whole one-word names only: "primary" begins "primary tumour resection" but truncates nothing.
        keys = [key for key in self._latin_fuzzy.starting_with(query) if " " not in key]
        targets = [target for key in keys for target in self._latin[key]]
        if not targets or len({tuple(sorted(t.ingredients)) for t in targets}) != 1:
            return None
        shortest = min(keys, key=len)
        target = self._latin[shortest][0]
        score = float(fuzz.ratio(query, shortest))
        if score < _PREFIX_MIN_SCORE:
            return None
        return _Part(query, (target,), score, fuzzy=True, rule=f"the beginning of '{shortest}' and of no other name")

    def _is_everyday(self, text: str) -> bool:
        """True when every word of ``text`` is a common word and none is a name we know: a known name is
        read as that name ("insulin", "biopsy", "radiotherapy"), not as a common word."""
        words = self._everyday_words
        latin, compact = self._latin, self._compact
        return all(word in words and word not in latin and word not in compact for word in text.split(" "))

    def _split_list_filler(self, texts: list[str]) -> tuple[list[str], list[str]]:
        """``texts`` parted into list-item filler and the rest (each text judged once)."""
        filler: list[str] = []
        rest: list[str] = []
        for text in texts:
            (filler if self._is_list_filler(text) else rest).append(text)
        return filler, rest

    def _is_list_filler(self, text: str) -> bool:
        """True for words in a list item of their own that name nothing: everyday clinical words, and
        common words that do not begin the name of a restricted agent ("further", not "keto")."""
        if norm.is_ordinary(text) or norm.is_chinese_filler(text):
            return True
        words = text.split(" ")
        return self._is_everyday(text) and all(self._restricted_beginning_with(word) is None for word in words)

    def _is_filler(self, text: str) -> bool:
        """True for everyday clinical words, or common words of a language, that no name was read in."""
        return norm.is_ordinary(text) or self._is_everyday(text)

    def _strong_blocking_candidate(self, part: _Part) -> bool:
        # Beside a recognised name, a word is kept as a candidate only when it comes close to a
        # restricted agent: "femur" next to "palliative XRT" is not Femara (score 73). Chinese names
        # are short, so one wrong character costs 20-33 points (利托纳韦: 75, 扑米铜: 67): any restricted
        # candidate in the Chinese review band is kept.
        floor = self.settings.chinese_review_score if norm.is_cjk(part.text) else _BESIDE_A_NAME_SCORE
        return any(
            score >= floor and self._categories.get(ingredient)
            for target, score in part.candidates
            for ingredient in target.ingredients
        )

    # -- assembling ----------------------------------------------------------------

    def _assemble(self, parts: list[_Part], unread: list[str], ignored: list[str], route: norm.RouteReading) -> Reading:
        matches: dict[str, Match] = {}
        candidates: dict[str, Match] = {}
        notes: list[str] = []
        topical: list[str] = []  # the evidence of every non-systemic form that was read
        for part in parts:
            part_route = part.route or route
            if not part_route.systemic and part_route.evidence not in topical:
                topical.append(part_route.evidence)
            readings = {tuple(t.ingredients) for t in part.targets}
            if len(readings) > 1:  # an alias two rows claim: ask, don't guess
                part.candidates = tuple((t, 100.0) for t in part.targets)
                notes.append(f"'{part.text}' is ambiguous: " + " or ".join(t.row for t in part.targets))
            if part.candidates:
                for target, score in part.candidates:
                    for ingredient in target.ingredients:
                        match = self._match(ingredient, score, MatchMethod.REVIEW_BAND, target, part, part_route)
                        if _better(match, candidates.get(ingredient)):
                            candidates[ingredient] = match
                if part.fuzzy:
                    shown = ", ".join(f"{t.alias} ({s:.0f})" for t, s in part.candidates)
                    notes.append(f"'{part.text}' is not a confident match; candidates: {shown}")
                elif part.rule:
                    notes.append(f"'{part.text}' is {part.rule}: confirm")
                continue
            target = part.targets[0]
            method = MatchMethod.FUZZY if part.fuzzy else target.method
            for ingredient in target.ingredients:
                match = self._match(ingredient, part.score, method, target, part, part_route)
                if _better(match, matches.get(ingredient)):
                    matches[ingredient] = match
            if part.fuzzy:
                why = f"; {part.rule}" if part.rule else ""
                notes.append(
                    f"read '{part.text}' as {target.row} (fuzzy match to '{target.alias}', score {part.score:.0f}{why})"
                )
            elif method is MatchMethod.COMBINATION:
                notes.append(f"'{target.alias}' contains " + " + ".join(target.ingredients))
        for text in unread:
            notes.append(f"could not read '{text}'")
        if ignored:
            notes.append("ignored words: " + ", ".join(f"'{text}'" for text in ignored))
        if topical and (matches or candidates):
            shown = ", ".join(f"'{evidence}'" for evidence in topical)
            notes.append(f"non-systemic form ({shown}): not counted as systemic exposure; confirm the route")
        for ingredient in matches:
            candidates.pop(ingredient, None)
        all_matches = tuple(matches.values()) + tuple(candidates.values())
        if candidates or (unread and matches):
            status = ResolutionStatus.AMBIGUOUS
        elif matches:
            status = ResolutionStatus.RESOLVED
        else:
            status = ResolutionStatus.UNRESOLVED
            if not unread:
                notes.append("no medication name found")
        return Reading(status, all_matches, tuple(notes), tuple(unread))

    def _match(
        self, ingredient: str, score: float, method: MatchMethod, target: _Target, part: _Part, route: norm.RouteReading
    ) -> Match:
        return Match(
            ingredient=ingredient,
            categories=self._categories.get(ingredient, ()),
            score=round(score, 1),
            method=method,
            matched_alias=target.alias,
            matched_text=part.text,
            systemic=route.systemic,
        )


def _set_apart(span: tuple[int, int], name_at: list[int], joins: list[int]) -> bool:
    """True when a joining word stands between the run of words at ``span`` and every name around it."""
    start, end = span
    before = [at for at in name_at if at < start]
    after = [at for at in name_at if at >= end]
    apart_before = not before or any(max(before) < join < start for join in joins)
    apart_after = not after or any(end <= join < min(after) for join in joins)
    return apart_before and apart_after


def _give_routes(parts: list[_Part], words: list[str]) -> None:
    """Each name owns the words from where it stands to where the next name stands (the first also
    those before it: "topical ketoconazole"); its route is what those words say. A name that cannot
    be placed takes the route of the whole list item."""
    placed: list[tuple[int, _Part]] = []
    unplaced: list[_Part] = []
    for part in parts:
        at = _position(part.text, words)
        if at is None:
            unplaced.append(part)
        else:
            placed.append((at, part))
    placed.sort(key=lambda pair: pair[0])
    for number, (at, part) in enumerate(placed):
        start = 0 if number == 0 else at
        end = placed[number + 1][0] if number + 1 < len(placed) else len(words)
        own = words[start:end] or words[at : at + 1]
        part.route = norm.read_route(" ".join(own), own)
    if unplaced:
        whole = norm.read_route(" ".join(words), words)
        for part in unplaced:
            part.route = whole


def _position(text: str, words: list[str]) -> int | None:
    """Where the text of a part begins among the words of its list item, if it can be found."""
    first = text.split(" ", 1)[0]
    for index, word in enumerate(words):
        if word == first or (norm.is_cjk(word) and first in word):
            return index
    return None


def _better(match: Match, kept: Match | None) -> bool:
    """True when ``match`` should replace ``kept`` for its ingredient: the systemic reading first (a
    tablet beside a cream of the same drug is exposure), then the higher score."""
    return kept is None or (match.systemic, match.score) > (kept.systemic, kept.score)


def _unconfirmed(text: str, targets: tuple[_Target, ...], rule: str) -> _Part:
    """A known name that the words around it leave in doubt ("no ...", "ice pack"): only candidates."""
    return _Part(text, targets, 100.0, rule=rule).demote()


def _deletions(word: str) -> list[str]:
    return [word[:index] + word[index + 1 :] for index in range(len(word))]


def _segments(words: list[str]) -> list[list[str]]:
    """Split tokens at list separators ("+", ",", "/", "and"...)."""
    segments: list[list[str]] = [[]]
    for word in words:
        if norm.is_separator(word):
            segments.append([])
        else:
            segments[-1].append(word)
    return [segment for segment in segments if segment]
