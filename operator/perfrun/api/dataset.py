"""spec.dataset: the data a run's database starts with — a golden dump, a VolumeSnapshot,
or a deterministic synthetic data set with realistic shapes (many small accounts, few whales)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from perfrun.api.base import ApiModel, Rule, exactly_one
from perfrun.api.environment import LIST_MAP_BY_NAME, Resources
from perfrun.api.networks import FORBIDDEN_URL_HOST, forbidden_url
from perfrun.api.types import DnsLabel, Duration, HttpUrl, PositiveDuration, SqlIdent


class UniformRange(ApiModel):
    """Integers drawn uniformly from [min, max]."""

    min: int = Field(ge=0, description="Smallest value.")
    max: int = Field(ge=0, description="Largest value.")

    __rules__ = (
        Rule(
            cel="self.min <= self.max",
            message="min must not exceed max",
            check=lambda r: r.min <= r.max,
            field_path=".min",
        ),
    )


class Zipf(ApiModel):
    """A Zipf (power-law) distribution over 1..max: rank k has weight k^-exponent."""

    exponent: float = Field(gt=0.0, le=10.0, description="Skew; 1.0-1.5 is typical of traffic.")
    max: int = Field(ge=1, le=10_000_000, description="Largest value drawn.")


class LogNormal(ApiModel):
    """A log-normal distribution given by its median and the sigma of its logarithm."""

    median: float = Field(gt=0.0, description="Median value.")
    sigma: float = Field(gt=0.0, le=10.0, description="Standard deviation of ln(value).")


class Percentiles(ApiModel):
    """A distribution given by percentiles; fitted to a log-normal body with a heavy tail.

    The fit is a piecewise log-normal: ln(1 + value) is linear in the standard normal quantile
    between the knots p50, p95 and p99, so the requested percentiles are hit exactly (up to
    rounding to integers); below p50 the body keeps the p50-p95 slope, above p99 the tail keeps
    the p95-p99 slope, clamped at max."""

    p50: float = Field(ge=0.0, description="Median.")
    p95: float = Field(ge=0.0, description="95th percentile.")
    p99: float = Field(ge=0.0, description="99th percentile.")
    max: int | None = Field(None, ge=1, description="Hard upper bound on any value drawn.")

    __rules__ = (
        Rule(
            cel="self.p50 <= self.p95 && self.p95 <= self.p99",
            message="percentiles must not decrease: p50 <= p95 <= p99",
            check=lambda p: p.p50 <= p.p95 <= p.p99,
            field_path=".p95",
        ),
        Rule(
            cel="!has(self.max) || double(self.max) >= self.p99",
            message="max must not be below p99",
            check=lambda p: p.max is None or p.max >= p.p99,
            field_path=".max",
        ),
    )


class Distribution(ApiModel):
    """How many (or which) values to draw: exactly one of the shapes."""

    constant: int | None = Field(None, ge=0, description="Always this value.")
    uniform: UniformRange | None = Field(None, description="Uniform over a range.")
    zipf: Zipf | None = Field(None, description="Power law: many small, a few huge.")
    lognormal: LogNormal | None = Field(None, description="Log-normal.")
    percentiles: Percentiles | None = Field(None, description="Fitted to p50/p95/p99.")

    __rules__ = (
        Rule(
            cel="[has(self.constant), has(self.uniform), has(self.zipf), has(self.lognormal), "
            "has(self.percentiles)].filter(x, x).size() == 1",
            message="a distribution needs exactly one of constant, uniform, zipf, lognormal, "
            "percentiles",
            check=lambda d: exactly_one(d.constant, d.uniform, d.zipf, d.lognormal, d.percentiles),
        ),
    )


GeneratorName = Literal[
    "sequence",
    "uuid",
    "name",
    "email",
    "text",
    "int",
    "float",
    "bool",
    "timestamp",
    "enum",
    "parent",
    "runId",
    "constant",
]


class Column(ApiModel):
    """A column and the generator that fills it."""

    name: SqlIdent = Field(description="Column name in the live schema.")
    generator: GeneratorName = Field(
        description=(
            "sequence (min, min+1, ...; min defaults to 1), uuid, name, email, text, int, "
            "float, bool, timestamp, enum (weighted values), parent (a column of the parent "
            "row, its key by default), runId (the run id given to perfrun seed), constant."
        )
    )
    min: float | None = Field(
        None, description="int/float: smallest value; text: min length; sequence: first value."
    )
    max: float | None = Field(None, description="int/float: largest value; text: max length.")
    distribution: Distribution | None = Field(
        None, description="int/float: draw values from this instead of uniform min..max."
    )
    source: SqlIdent | None = Field(
        None,
        description=(
            "parent: the parent table's column to copy; defaults to its first sequence or uuid "
            "column (its key)."
        ),
    )
    values: dict[str, int] = Field(
        default_factory=dict,
        max_length=64,
        description=(
            "enum: value -> relative weight, e.g. {active: 90, suspended: 10}; bool: weights "
            "of 'true' and 'false'."
        ),
    )
    value: str | None = Field(None, max_length=1024, description="constant: the value.")
    spread: Duration | None = Field(
        None, description="timestamp: how far back from the data set's epoch values reach."
    )
    null_fraction: float = Field(0.0, ge=0.0, le=1.0, description="Share of NULLs.")

    __rules__ = (
        Rule(
            cel="self.generator != 'enum' || size(self.values) > 0",
            message="an enum column needs values (value -> weight)",
            check=lambda c: c.generator != "enum" or len(c.values) > 0,
            field_path=".values",
        ),
        Rule(
            cel="self.generator != 'constant' || has(self.value)",
            message="a constant column needs value",
            check=lambda c: c.generator != "constant" or c.value is not None,
            field_path=".value",
        ),
        Rule(
            cel="!has(self.min) || !has(self.max) || self.min <= self.max",
            message="min must not exceed max",
            check=lambda c: c.min is None or c.max is None or c.min <= c.max,
            field_path=".min",
        ),
        Rule(
            cel="!has(self.distribution) || self.generator == 'int' || self.generator == 'float'",
            message="distribution applies to int and float columns only",
            check=lambda c: c.distribution is None or c.generator in ("int", "float"),
            field_path=".distribution",
        ),
        Rule(
            cel="!has(self.source) || self.generator == 'parent'",
            message="source applies to parent columns only",
            check=lambda c: c.source is None or c.generator == "parent",
            field_path=".source",
        ),
    )


class PerParent(ApiModel):
    """A child table: each row of ``table`` gets a number of rows drawn from ``count``."""

    table: SqlIdent = Field(description="The parent table (declared earlier).")
    count: Distribution = Field(description="Rows per parent row, e.g. percentiles p50/p95/p99.")


class Index(ApiModel):
    """An index built after the bulk load (faster than maintaining it row by row)."""

    columns: list[SqlIdent] = Field(min_length=1, max_length=8, description="Indexed columns.")
    unique: bool = Field(False, description="A unique index.")


class Table(ApiModel):
    """A table to fill: either a fixed number of rows, or rows per parent row."""

    name: SqlIdent = Field(description="Table name in the live schema.")
    rows: int | None = Field(None, ge=0, le=1_000_000_000, description="Row count (root tables).")
    per_parent: PerParent | None = Field(None, description="Rows per parent row (child tables).")
    columns: list[Column] = Field(
        min_length=1,
        max_length=64,
        description="Columns to fill.",
        json_schema_extra=LIST_MAP_BY_NAME,
    )
    indexes: list[Index] = Field(default_factory=list, max_length=16, description="Post-load.")

    __rules__ = (
        Rule(
            cel="has(self.rows) != has(self.perParent)",
            message="a table needs exactly one of rows or perParent",
            check=lambda t: exactly_one(t.rows, t.per_parent),
            field_path=".rows",
        ),
    )


class Synthetic(ApiModel):
    """Deterministic synthetic data: the same seed gives byte-identical tables."""

    seed: int = Field(ge=0, le=2**62, description="Random seed.")
    epoch: str = Field(
        "2026-01-01T00:00:00Z",
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
        max_length=20,
        description="Fixed 'now' for timestamps, so data does not depend on the clock.",
    )
    tables: list[Table] = Field(
        min_length=1,
        max_length=32,
        description="Tables in load order (parents first).",
        json_schema_extra=LIST_MAP_BY_NAME,
    )
    analyze: bool = Field(True, description="Run ANALYZE after loading.")
    max_rows: int | None = Field(
        None,
        ge=0,
        description="Refuse (before writing anything) a data set with more rows than this in all.",
    )
    max_accounts_per_minute: int | None = Field(
        None,
        ge=1,
        description=(
            "Throttle the rows of the first table (the accounts) to this many per minute, for "
            "databases that must not take them faster."
        ),
    )
    run_id_column: SqlIdent | None = Field(
        "run_id",
        description=(
            "A column of this name that no factory declares is filled with the run id (when "
            "perfrun seed is given one), so rows can be traced to their run."
        ),
    )

    __rules__ = (
        Rule(
            cel="self.tables.all(t, !has(t.perParent) || "
            "self.tables.exists(p, p.name == t.perParent.table))",
            message="perParent.table must name another table of dataset.synthetic.tables",
            check=lambda s: all(
                t.per_parent is None or any(p.name == t.per_parent.table for p in s.tables)
                for t in s.tables
            ),
            field_path=".tables",
        ),
    )


class Dump(ApiModel):
    """A golden dump: pg_dump custom/directory format (restored with ``pg_restore -j``) or SQL."""

    url: HttpUrl | None = Field(None, description="Where to download it (checked by sha256).")
    path: str | None = Field(
        None, pattern=r"^/", max_length=1024, description="A path mounted into the dataset Job."
    )
    sha256: str | None = Field(
        None,
        pattern=r"^[a-f0-9]{64}$",
        max_length=64,
        description="Expected checksum of the dump file; a mismatch refuses it.",
    )
    format: Literal["auto", "custom", "directory", "tar", "plain"] = Field(
        "auto",
        description=(
            "Dump format; auto detects it (plain SQL may be gzipped). tar restores without -j."
        ),
    )
    jobs: int = Field(4, ge=1, le=32, description="Parallel restore jobs (pg_restore -j).")

    __rules__ = (
        Rule(
            cel="has(self.url) != has(self.path)",
            message="a dump needs exactly one of url or path",
            check=lambda d: exactly_one(d.url, d.path),
            field_path=".url",
        ),
        Rule(
            cel=f"!has(self.url) || !self.url.matches(r'{FORBIDDEN_URL_HOST}')",
            message="the dump url may not be a loopback, link-local (cloud metadata) or "
            "unspecified address",
            check=lambda d: d.url is None or not forbidden_url(d.url),
            field_path=".url",
        ),
        Rule(
            cel="!has(self.url) || has(self.sha256)",
            message="a dump downloaded from url needs sha256",
            check=lambda d: d.url is None or d.sha256 is not None,
            field_path=".sha256",
        ),
    )


class Snapshot(ApiModel):
    """A VolumeSnapshot cloned into the database's volume (no restore Job)."""

    volume_snapshot: DnsLabel = Field(description="Name of the VolumeSnapshot to clone.")
    namespace: DnsLabel | None = Field(None, description="Its namespace, if not the PerfRun's.")


class Dataset(ApiModel):
    """The data the database starts with: exactly one of synthetic, dump or snapshot."""

    into: DnsLabel = Field(description="The postgres component to fill.")
    database: SqlIdent = Field("app", description="Database name inside that server.")
    schema_sql: str | None = Field(
        None,
        alias="schema",
        max_length=262_144,
        description="DDL run before seeding, for runs without the app's migrations.",
    )
    synthetic: Synthetic | None = Field(None, description="Generate realistic data.")
    dump: Dump | None = Field(None, description="Restore a golden dump.")
    snapshot: Snapshot | None = Field(None, description="Clone a VolumeSnapshot.")
    timeout: PositiveDuration = Field(
        "30m", description="Fail the run when restoring takes longer."
    )
    resources: Resources | None = Field(
        None, description="The seed/restore pod's requests and limits (default 250m CPU, 256Mi)."
    )

    __rules__ = (
        Rule(
            cel="[has(self.synthetic), has(self.dump), has(self.snapshot)]"
            ".filter(x, x).size() == 1",
            message="dataset needs exactly one of synthetic, dump or snapshot",
            check=lambda d: exactly_one(d.synthetic, d.dump, d.snapshot),
        ),
    )
