"""Pure column generators: each turns a chunk of rows into COPY-text values.

Every generator owns one PRNG derived from (seed, table, column), draws a fixed sequence of
values in row order and never looks at chunk boundaries, so the data depends on the seed only
(not on chunk size, retries or timing). Values are produced column-wise, as lists of already
escaped strings, because that is what keeps pure Python close to the server's COPY speed."""

from __future__ import annotations

import hashlib
import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import accumulate
from typing import Protocol

from perfrun.dataset.distributions import Sampler

NULL = "\\N"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_UNIX = datetime(1970, 1, 1, tzinfo=UTC)

FIRST_NAMES = _words(
    "Ada Alan Alice Amara Ana Anton Arjun Astrid Ben Bianca Carla Chen Chloe Dara David Diego "
    "Elena Emil Emma Farah Felix Fatima Grace Hana Hugo Ines Ivan Jonas Julia Kai Kenji Lara "
    "Leo Lina Lucas Maya Mateo Mia Nadia Nia Noah Olga Omar Pablo Priya Rafael Rosa Sam Sara "
    "Sofia Tariq Theo Uma Victor Wei Yara Yusuf Zoe"
)
LAST_NAMES = _words(
    "Abe Adeyemi Almeida Andersen Bauer Becker Brown Castro Chen Costa Dubois Eriksson Fischer "
    "Garcia Gonzalez Haddad Hansen Ito Jensen Johnson Kaur Kim Kowalski Kumar Larsen Lopez "
    "Martin Meyer Moreau Muller Nakamura Nguyen Novak Okafor Olsen Park Patel Petrov Rossi "
    "Santos Sato Schmidt Silva Singh Smith Suzuki Tanaka Taylor Weber Williams Wong Yilmaz Zhang"
)
DOMAINS = ("example.com", "example.org", "example.net", "mail.test", "corp.test")
WORDS = _words(
    "the of and to in is that for it as with was on be at by this from or have an are not "
    "order account project invoice payment customer update report status user team item "
    "quick review draft final monthly weekly plan budget shipment return refund priority note "
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt"
)
NAME_MAX_LEN = max(len(f) for f in FIRST_NAMES) + 1 + max(len(n) for n in LAST_NAMES)


def escape_copy_text(value: str) -> str:
    """A value escaped for COPY's text format (backslash, tab, newline, carriage return)."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def stream_rng(seed: int, table: str, column: str, purpose: str = "values") -> random.Random:
    """The PRNG of one (seed, table, column, purpose): independent of every other stream."""
    digest = hashlib.sha256(f"{seed}\x00{table}\x00{column}\x00{purpose}".encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))


@dataclass
class Chunk:
    """A run of consecutive rows of one table: ``start`` is the 0-based index of the first."""

    start: int
    size: int
    parent: dict[str, list[str]] = field(default_factory=dict)  # parent column -> per row


class Generator(Protocol):
    """Produces one column's values for a chunk of rows."""

    def take(self, chunk: Chunk) -> list[str]: ...


@dataclass
class SequenceGen:
    first: int

    def take(self, chunk: Chunk) -> list[str]:
        a = self.first + chunk.start
        return list(map(str, range(a, a + chunk.size)))


@dataclass
class UuidGen:
    rng: random.Random

    def take(self, chunk: Chunk) -> list[str]:
        bits = self.rng.getrandbits
        out = []
        for _ in range(chunk.size):
            # version 4, RFC 4122 variant: the same bits uuid.uuid4() would set
            h = "%032x" % ((bits(128) & ~(0xF << 76) & ~(0x3 << 62)) | (4 << 76) | (0x2 << 62))
            out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        return out


@dataclass
class NameGen:
    rng: random.Random

    def take(self, chunk: Chunk) -> list[str]:
        r = self.rng.random
        nf, nl = len(FIRST_NAMES), len(LAST_NAMES)
        return [
            f"{FIRST_NAMES[int(r() * nf)]} {LAST_NAMES[int(r() * nl)]}" for _ in range(chunk.size)
        ]


@dataclass
class EmailGen:
    """first.last<row>@domain: realistic and unique within the table (unique indexes hold)."""

    rng: random.Random

    def take(self, chunk: Chunk) -> list[str]:
        r = self.rng.random
        nf, nl, nd = len(FIRST_NAMES), len(LAST_NAMES), len(DOMAINS)
        first = [f.lower() for f in FIRST_NAMES]
        last = [n.lower() for n in LAST_NAMES]
        return [
            f"{first[int(r() * nf)]}.{last[int(r() * nl)]}{i}@{DOMAINS[int(r() * nd)]}"
            for i in range(chunk.start + 1, chunk.start + chunk.size + 1)
        ]


def _corpus() -> str:
    """64 KiB of words in a fixed order (its own PRNG), which text values are cut from."""
    rng = random.Random(20260101)
    parts: list[str] = []
    size = 0
    while size < 65536:
        word = WORDS[int(rng.random() * len(WORDS))]
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)


_CORPUS = _corpus()
_WORD_STARTS = [0] + [i + 1 for i, ch in enumerate(_CORPUS) if ch == " "]


@dataclass
class TextGen:
    """Word-like text with a length uniform in [min_len, max_len], cut from a fixed corpus
    at a word start."""

    rng: random.Random
    min_len: int
    max_len: int

    def __post_init__(self) -> None:
        room = len(_CORPUS) - self.max_len - 1
        self._starts = [a for a in _WORD_STARTS if a < room]

    def take(self, chunk: Chunk) -> list[str]:
        r, corpus, starts = self.rng.random, _CORPUS, self._starts
        lo, span, n_starts = self.min_len, self.max_len - self.min_len + 1, len(self._starts)
        return [
            corpus[(at := starts[int(r() * n_starts)]) : at + lo + int(r() * span)]
            for _ in range(chunk.size)
        ]


@dataclass
class IntGen:
    rng: random.Random
    sampler: Sampler

    def take(self, chunk: Chunk) -> list[str]:
        s, rng = self.sampler.sample, self.rng
        return [str(math.floor(s(rng) + 0.5)) for _ in range(chunk.size)]


@dataclass
class FloatGen:
    rng: random.Random
    sampler: Sampler

    def take(self, chunk: Chunk) -> list[str]:
        s, rng = self.sampler.sample, self.rng
        return [f"{s(rng):.6f}" for _ in range(chunk.size)]


@dataclass
class WeightedGen:
    """Values by relative weight (enum states, booleans)."""

    rng: random.Random
    values: Sequence[str]
    weights: Sequence[int]

    def __post_init__(self) -> None:
        self._cum = list(accumulate(self.weights))
        self._total = self._cum[-1]

    def take(self, chunk: Chunk) -> list[str]:
        r, cum, total, vals = self.rng.random, self._cum, self._total, self.values
        last = len(vals) - 1
        return [vals[min(bisect_right(cum, r() * total), last)] for _ in range(chunk.size)]


@cache
def _times_of_day() -> tuple[str, ...]:
    """'HH:MM:SS+00' for every second of a day: a lookup beats formatting per row."""
    return tuple(
        f"{h:02d}:{m:02d}:{sec:02d}+00" for h in range(24) for m in range(60) for sec in range(60)
    )


@dataclass
class TimestampGen:
    """Times within ``spread`` seconds before ``epoch``, denser towards the epoch (growth)."""

    rng: random.Random
    epoch: datetime
    spread_s: float

    def __post_init__(self) -> None:
        self._now = int(self.epoch.timestamp())
        self._first_day = (self._now - int(self.spread_s)) // 86400
        days = self._now // 86400 - self._first_day + 1
        self._days = [
            (_UNIX + timedelta(days=self._first_day + d)).strftime("%Y-%m-%d ") for d in range(days)
        ]

    def take(self, chunk: Chunk) -> list[str]:
        r, sqrt, spread, now = self.rng.random, math.sqrt, self.spread_s, self._now
        days, base, tods = self._days, self._first_day, _times_of_day()
        return [
            days[(t := now - int(spread * (1.0 - sqrt(r())))) // 86400 - base] + tods[t % 86400]
            for _ in range(chunk.size)
        ]


@dataclass
class ParentGen:
    source: str

    def take(self, chunk: Chunk) -> list[str]:
        return chunk.parent[self.source]


@dataclass
class ConstGen:
    value: str  # already escaped

    def take(self, chunk: Chunk) -> list[str]:
        return [self.value] * chunk.size


@dataclass
class Nullable:
    """Replaces a share of an inner generator's values with NULL (its own PRNG stream)."""

    inner: Generator
    rng: random.Random
    fraction: float

    def take(self, chunk: Chunk) -> list[str]:
        values = self.inner.take(chunk)
        r, f = self.rng.random, self.fraction
        return [NULL if r() < f else v for v in values]


def parse_epoch(text: str) -> datetime:
    """The data set's fixed 'now' (``2026-01-01T00:00:00Z``)."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def render_rows(columns: list[list[str]]) -> bytes:
    """COPY text rows (tab-separated, newline-terminated) from column-wise values."""
    if not columns or not columns[0]:
        return b""
    return ("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n").encode()
