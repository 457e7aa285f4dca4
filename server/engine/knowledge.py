"""Loading and validating the knowledge base: category registry, drug tables and protocol rules.

Every file is CSV with a source on every row (see ``data/README.md``). A malformed file is
refused with its path and line number; nothing half-loaded is ever returned.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import KnowledgeError
from .model import Counting, Protocol, Rule

LEXICON_FILES = ("cyp3a4_lists.csv", "therapy_classes.csv", "lexicon.csv")
CATEGORY_FILE = "categories.csv"
PROTOCOL_DIR = "protocols"
EVERYDAY_WORDS_FILE = "everyday_words.txt"
_EVERYDAY_WORD = re.compile(r"[a-z]+")

_LEXICON_COLUMNS = ("kind", "name", "categories", "contains", "synonyms", "brands", "chinese_names", "source", "note")
_EXTRA_COLUMNS = {"cyp3a4_lists.csv": ("fda_classification", "protocol_listed")}
_EXTRA_VALUES = {
    "fda_classification": frozenset({"strong", "moderate", "weak", "not_listed"}),
    "protocol_listed": frozenset({"yes", "no"}),
}
_KINDS = frozenset({"ingredient", "product", "regimen"})
_CATEGORY_COLUMNS = ("id", "label", "source")
_RULE_COLUMNS = (
    "rule_id",
    "category",
    "counting",
    "window_days",
    "review_days",
    "min_distinct",
    "replaces",
    "criterion",
    "source",
)
_PREAMBLE_KEYS = frozenset({"id", "title", "registry", "source", "default"})


@dataclass(frozen=True, slots=True)
class Category:
    """A category id that rules and drug rows refer to."""

    category_id: str
    label: str
    source: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a drug table: an ingredient, or a product/regimen standing for several."""

    kind: str
    name: str
    categories: tuple[str, ...]
    contains: tuple[str, ...]
    synonyms: tuple[str, ...]
    brands: tuple[str, ...]
    chinese_names: tuple[str, ...]
    source: str
    note: str
    table: str
    line: int

    @property
    def ingredients(self) -> tuple[str, ...]:
        """The canonical ingredients this row stands for."""
        return self.contains if self.kind != "ingredient" else (self.name,)


@dataclass(frozen=True, slots=True)
class TableInfo:
    """A loaded data file: its name, size and the sources its rows cite."""

    name: str
    row_count: int
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    """Everything loaded from a data folder, immutable once built."""

    version: str
    categories: dict[str, Category]
    entries: tuple[Entry, ...]
    ingredient_categories: dict[str, tuple[str, ...]]
    protocols: dict[str, Protocol]
    default_protocol_id: str
    tables: tuple[TableInfo, ...]
    # Common words of English and other European languages (optional file): never read as a drug
    # with confidence, however close they come to a brand ("core" is not Coreg).
    everyday_words: frozenset[str] = frozenset()

    def protocol(self, protocol_id: str) -> Protocol | None:
        """The protocol with this id, the default one for an empty id, or ``None``."""
        return self.protocols.get(protocol_id or self.default_protocol_id)


def load_knowledge_base(data_dir: Path | str) -> KnowledgeBase:
    """Load and validate every knowledge file under ``data_dir``.

    Raises:
        KnowledgeError: a file is missing, unreadable or malformed; the message gives path and line.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise KnowledgeError(root, None, "data folder not found or not a directory")
    digest = hashlib.sha256()
    categories = _load_categories(root / CATEGORY_FILE, digest)
    entries: list[Entry] = []
    tables: list[TableInfo] = [_table_info(CATEGORY_FILE, [c.source for c in categories.values()])]
    for name in LEXICON_FILES:
        rows = _load_lexicon(root / name, categories, digest)
        entries.extend(rows)
        tables.append(_table_info(name, [row.source for row in rows]))
    ingredient_categories = _check_entries(root, entries)
    protocols: dict[str, Protocol] = {}
    defaults: list[str] = []
    protocol_files = sorted((root / PROTOCOL_DIR).glob("*.csv")) if (root / PROTOCOL_DIR).is_dir() else []
    if not protocol_files:
        raise KnowledgeError(root / PROTOCOL_DIR, None, "no protocol file (*.csv) found")
    for path in protocol_files:
        protocol, is_default = _load_protocol(path, categories, digest)
        if protocol.protocol_id in protocols:
            raise KnowledgeError(path, None, f"protocol id {protocol.protocol_id!r} is defined twice")
        protocols[protocol.protocol_id] = protocol
        if is_default:
            defaults.append(protocol.protocol_id)
        tables.append(_table_info(f"{PROTOCOL_DIR}/{path.name}", [rule.source for rule in protocol.rules]))
    if len(defaults) > 1:
        raise KnowledgeError(root / PROTOCOL_DIR, None, f"several default protocols: {', '.join(defaults)}")
    default_id = defaults[0] if defaults else sorted(protocols)[0]
    everyday_words, everyday_source = _load_everyday_words(root / EVERYDAY_WORDS_FILE, digest)
    if everyday_words:
        tables.append(TableInfo(name=EVERYDAY_WORDS_FILE, row_count=len(everyday_words), sources=(everyday_source,)))
    return KnowledgeBase(
        version=digest.hexdigest()[:16],
        categories=categories,
        entries=tuple(entries),
        ingredient_categories=ingredient_categories,
        protocols=protocols,
        default_protocol_id=default_id,
        tables=tuple(tables),
        everyday_words=everyday_words,
    )


def _load_everyday_words(path: Path, digest: hashlib._Hash) -> tuple[frozenset[str], str]:
    """The word list (one lowercase word per line, ``#`` comments; the line ``# source: ...`` names
    where it came from), or nothing when the file is absent: it only makes reading more cautious."""
    if not path.is_file():
        return frozenset(), ""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(path, None, f"cannot read: {exc}") from exc
    digest.update(text.encode("utf-8"))
    words: set[str] = set()
    source = ""
    for line_number, line in enumerate(text.splitlines(), start=1):
        word = line.strip()
        if word.startswith("#"):
            if word.startswith("# source:"):
                source = word.removeprefix("# source:").strip()
            continue
        if not word:
            continue
        if not _EVERYDAY_WORD.fullmatch(word):
            raise KnowledgeError(path, line_number, f"not one lowercase word of letters a-z: {word!r}")
        words.add(word)
    if words and not source:
        raise KnowledgeError(path, None, "no '# source:' line saying where the words come from")
    return frozenset(words), source


def _table_info(name: str, sources: list[str]) -> TableInfo:
    return TableInfo(name=name, row_count=len(sources), sources=tuple(sorted(set(sources))))


def _read_rows(path: Path, digest: hashlib._Hash) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, cells) for every data row; comment and blank lines are skipped."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KnowledgeError(path, None, f"cannot read file ({exc.strerror or exc})") from None
    digest.update(path.name.encode() + b"\0" + raw + b"\0")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise KnowledgeError(path, line, "not valid UTF-8") from None
    # Comment lines become empty lines so that the reader's line numbers stay true.
    lines = ["\n" if line.lstrip().startswith("#") else line for line in text.splitlines(keepends=True)]
    reader = csv.reader(lines, strict=True)
    try:
        for cells in reader:
            if cells and any(cell.strip() for cell in cells):
                yield reader.line_num, cells
    except csv.Error as exc:
        raise KnowledgeError(path, reader.line_num, f"malformed CSV ({exc})") from None


def _rows_with_header(
    path: Path, required: tuple[str, ...], digest: hashlib._Hash
) -> Iterator[tuple[int, dict[str, str]]]:
    rows = _read_rows(path, digest)
    try:
        header_line, header = next(rows)
    except StopIteration:
        raise KnowledgeError(path, None, "file is empty") from None
    header = [cell.strip() for cell in header]
    if tuple(header) != required:
        raise KnowledgeError(path, header_line, f"header must be {','.join(required)}; got {','.join(header)}")
    for line, cells in rows:
        if len(cells) != len(header):
            raise KnowledgeError(path, line, f"expected {len(header)} fields, got {len(cells)}")
        yield line, {column: cell.strip() for column, cell in zip(header, cells, strict=True)}


def _split(cell: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in cell.split(";") if item.strip())


def _load_categories(path: Path, digest: hashlib._Hash) -> dict[str, Category]:
    categories: dict[str, Category] = {}
    for line, row in _rows_with_header(path, _CATEGORY_COLUMNS, digest):
        category_id = row["id"]
        if not category_id or not category_id.replace("_", "").isalnum() or category_id != category_id.lower():
            raise KnowledgeError(path, line, f"category id {category_id!r} must be lower_snake_case")
        if category_id in categories:
            raise KnowledgeError(path, line, f"category {category_id!r} is listed twice")
        if not row["source"]:
            raise KnowledgeError(path, line, "source is empty")
        categories[category_id] = Category(category_id, row["label"] or category_id, row["source"])
    return categories


def _load_lexicon(path: Path, categories: dict[str, Category], digest: hashlib._Hash) -> list[Entry]:
    extra = _EXTRA_COLUMNS.get(path.name, ())
    columns = _LEXICON_COLUMNS[:-2] + extra + _LEXICON_COLUMNS[-2:]
    entries: list[Entry] = []
    for line, row in _rows_with_header(path, columns, digest):
        kind, name = row["kind"], row["name"]
        if kind not in _KINDS:
            raise KnowledgeError(path, line, f"kind {kind!r} must be one of {', '.join(sorted(_KINDS))}")
        if not name:
            raise KnowledgeError(path, line, "name is empty")
        if not row["source"]:
            raise KnowledgeError(path, line, f"{name}: source is empty (every row needs one)")
        row_categories = _split(row["categories"])
        for category in row_categories:
            if category not in categories:
                raise KnowledgeError(path, line, f"{name}: unknown category {category!r}")
        contains = _split(row["contains"])
        if kind == "ingredient" and contains:
            raise KnowledgeError(path, line, f"{name}: an ingredient row cannot have 'contains'")
        if kind != "ingredient" and (not contains or row_categories):
            raise KnowledgeError(path, line, f"{name}: a {kind} row needs 'contains' and no categories")
        for column in extra:
            if row[column] not in _EXTRA_VALUES[column]:
                allowed = ", ".join(sorted(_EXTRA_VALUES[column]))
                raise KnowledgeError(path, line, f"{name}: {column} {row[column]!r} must be one of {allowed}")
        entries.append(
            Entry(
                kind=kind,
                name=name if kind != "ingredient" else name.lower(),
                categories=row_categories,
                contains=tuple(item.lower() for item in contains),
                synonyms=_split(row["synonyms"]),
                brands=_split(row["brands"]),
                chinese_names=_split(row["chinese_names"]),
                source=row["source"],
                note=row["note"],
                table=path.name,
                line=line,
            )
        )
    return entries


def _check_entries(root: Path, entries: list[Entry]) -> dict[str, tuple[str, ...]]:
    """Check names are defined once and products name known ingredients; map ingredient -> categories."""
    seen: dict[str, Entry] = {}
    for entry in entries:
        key = entry.name.casefold()
        if key in seen:
            first = seen[key]
            raise KnowledgeError(
                root / entry.table, entry.line, f"{entry.name!r} is already defined at {first.table}:{first.line}"
            )
        seen[key] = entry
    ingredient_categories = {e.name: e.categories for e in entries if e.kind == "ingredient"}
    for entry in entries:
        for ingredient in entry.contains:
            if ingredient not in ingredient_categories:
                raise KnowledgeError(
                    root / entry.table, entry.line, f"{entry.name}: contains unknown ingredient {ingredient!r}"
                )
    return ingredient_categories


def _load_protocol(path: Path, categories: dict[str, Category], digest: hashlib._Hash) -> tuple[Protocol, bool]:
    preamble = _read_preamble(path)
    rules: list[Rule] = []
    seen: set[str] = set()
    for line, row in _rows_with_header(path, _RULE_COLUMNS, digest):
        rule_id = row["rule_id"]
        if not rule_id or rule_id in seen:
            raise KnowledgeError(path, line, f"rule_id {rule_id!r} is empty or repeated")
        seen.add(rule_id)
        for category in (row["category"], *_split(row["replaces"])):
            if category not in categories:
                raise KnowledgeError(path, line, f"{rule_id}: unknown category {category!r}")
        try:
            counting = Counting(row["counting"])
        except ValueError:
            allowed = ", ".join(c.value for c in Counting)
            raise KnowledgeError(
                path, line, f"{rule_id}: counting {row['counting']!r} must be one of {allowed}"
            ) from None
        numbers = {
            column: _int(path, line, rule_id, row[column]) for column in ("window_days", "review_days", "min_distinct")
        }
        if counting in (Counting.WITHIN, Counting.AT_LEAST) and numbers["window_days"] <= 0:
            raise KnowledgeError(path, line, f"{rule_id}: {counting.value} needs a positive window_days")
        if counting is Counting.CONCURRENT_COUNT and numbers["min_distinct"] < 2:
            raise KnowledgeError(path, line, f"{rule_id}: concurrent_count needs min_distinct >= 2")
        if not row["source"] or not row["criterion"]:
            raise KnowledgeError(path, line, f"{rule_id}: criterion and source are required")
        rules.append(
            Rule(
                rule_id=rule_id,
                category=row["category"],
                counting=counting,
                window_days=numbers["window_days"],
                review_days=numbers["review_days"],
                min_distinct=numbers["min_distinct"],
                replaces=_split(row["replaces"]),
                criterion=row["criterion"],
                source=row["source"],
            )
        )
    if not rules:
        raise KnowledgeError(path, None, "protocol has no rules")
    protocol = Protocol(
        protocol_id=preamble.get("id", path.stem),
        title=preamble.get("title", ""),
        registry_id=preamble.get("registry", ""),
        source=preamble.get("source", ""),
        rules=tuple(rules),
    )
    return protocol, preamble.get("default", "").lower() in ("true", "yes")


def _read_preamble(path: Path) -> dict[str, str]:
    preamble: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        key, sep, value = stripped.lstrip("#").partition(":")
        key = key.strip().lower()
        if sep and key in _PREAMBLE_KEYS:
            preamble[key] = value.strip()
        elif sep and key.isidentifier():
            raise KnowledgeError(path, number, f"unknown preamble key {key!r}")
    return preamble


def _int(path: Path, line: int, rule_id: str, cell: str) -> int:
    if not cell:
        return 0
    try:
        value = int(cell)
    except ValueError:
        raise KnowledgeError(path, line, f"{rule_id}: {cell!r} is not a whole number") from None
    if value < 0:
        raise KnowledgeError(path, line, f"{rule_id}: {cell!r} must not be negative")
    return value
