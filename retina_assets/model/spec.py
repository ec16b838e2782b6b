"""The declarative client spec: one YAML file per client in ``RETINA_CLIENTS_DIR``.

A spec says where a client's drops land, how to read each dataset (format and reader options), how to
derive the ``as_of_date`` partition of a drop, how the client's columns map to a canonical dataset and with
which types, and how strict the quality checks are. The asset graph grows from these files; onboarding a
client needs no Python. See ``clients/demo.yaml`` for a commented example.

:func:`load_client_specs` never lets one bad file take down the others: each problem is returned as a
:class:`SpecError` naming the file, the field and the reason.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import re2
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from retina_assets.model.contracts import REQUIRED, rule_codes
from retina_assets.model.naming import Canonical, UnsafeNameError, check_name

Engine = Literal["pandas", "spark"]
ENGINES: tuple[str, ...] = get_args(Engine)
ColumnType = Literal["string", "int64", "int32", "float64", "bool", "date", "timestamp", "decimal"]
DropFormat = Literal["csv", "tsv", "json", "jsonl", "parquet", "xlsx", "fixed_width"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported once, as a spec error


@functools.lru_cache(maxsize=1024)
def client_regex(pattern: str) -> Any:
    """``pattern`` compiled with RE2, whose matching time is linear in the text for any pattern.

    Every regular expression a client spec supplies (file-name patterns, rule patterns) is matched through
    this, so no pattern and no crafted file name or value can make matching backtrack catastrophically.
    Raises ``ValueError`` for a pattern RE2 cannot run: invalid syntax or a construct that needs
    backtracking (backreferences such as ``\\1``, lookahead/lookbehind, possessive quantifiers).
    """
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(
            f"{pattern!r} is not a usable regular expression: {reason} (patterns run on RE2, which "
            "guarantees linear-time matching: backreferences and lookaround are not supported)"
        ) from None


class ReaderOptions(_Strict):
    """How to parse a drop file. Every field has a default that suits plain RFC 4180 CSV in UTF-8."""

    delimiter: str | None = None  # default: ',' for csv, '\t' for tsv
    quote: str | None = '"'
    escape: str | None = None
    encoding: str = "utf-8"
    header_row: int = 0  # number of junk lines above the header row
    decimal: str = "."
    thousands: str | None = None
    # the texts read as null in text formats; only the empty field by default, so real values such as
    # "NA" (Namibia) or "null" stay text unless the client's spec says they mean "no value"
    null_values: list[str] = Field(default_factory=lambda: [""])
    sheet: str | int | None = None  # xlsx sheet name or index (default: the first)
    comment: str | None = None  # fixed_width only: skip lines starting with this character
    widths: list[Annotated[int, Field(gt=0)]] | None = None  # fixed_width only: field widths in characters

    @field_validator("delimiter", "quote", "escape", "decimal", "thousands", "comment")
    @classmethod
    def _one_char(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError(f"must be a single character, got {value!r}")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value


GiB = 1 << 30
MiB = 1 << 20


class DropLimits(_Strict):
    """What one drop file may hold before its conversion is refused with a clear error.

    The defaults are generous for real client files and stop hostile ones (decompression bombs, endless
    rows, very wide headers, deeply nested JSON) in bounded time and memory; a client that needs more
    says so in its dataset's ``limits:`` section.
    """

    max_bytes: Annotated[int, Field(gt=0)] = 8 * GiB  # the drop's size after decompression
    max_rows: Annotated[int, Field(gt=0)] = 100_000_000
    max_columns: Annotated[int, Field(gt=0)] = 2_000
    max_nesting: Annotated[int, Field(gt=0, le=512)] = 64  # JSON objects/arrays inside each other
    max_row_bytes: Annotated[int, Field(gt=0, le=GiB)] = 16 * MiB  # one row/record, so also one field
    max_seconds: Annotated[float, Field(gt=0)] = 3600.0  # reading and typing one drop file


class ColumnSpec(_Strict):
    """One client column: its canonical name, its type, and (for dates) the formats it may use."""

    name: str | None = None  # canonical name; default: the client's name lower-cased
    type: ColumnType = "string"
    formats: list[str] = Field(default_factory=list)  # strptime formats for date/timestamp
    required: bool = True  # a drop without this column is a schema error
    precision: int = 18
    scale: int = 2

    @field_validator("name")
    @classmethod
    def _safe(cls, value: str | None) -> str | None:
        if value is not None:
            check_name("column", value)
        return value

    @model_validator(mode="after")
    def _formats_fit_type(self) -> ColumnSpec:
        if self.formats and self.type not in ("date", "timestamp"):
            raise ValueError(f"'formats' only applies to date/timestamp columns, not {self.type!r}")
        for fmt in self.formats:
            _check_date_format(fmt, need_full_date=True)
        if self.type == "decimal" and not 0 <= self.scale <= self.precision <= 38:
            raise ValueError("decimal needs 0 <= scale <= precision <= 38")
        return self


class AsOfDateRule(_Strict):
    """How a drop's ``as_of_date`` is derived: from a named group in the file-name pattern, or arrival."""

    source: Literal["filename", "arrival"] = Field("filename", alias="from")
    format: str = "%Y-%m-%d"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("format")
    @classmethod
    def _full_date_format(cls, value: str) -> str:
        _check_date_format(value, need_full_date=True)
        return value


def _check_date_format(fmt: str, need_full_date: bool) -> None:
    """Raise ``ValueError`` unless ``fmt`` is a strptime format that round-trips a date (and time)."""
    if "%" not in fmt:
        raise ValueError(f"{fmt!r} is not a strptime format (no %-directive, e.g. '%Y-%m-%d')")
    probe = dt.datetime(2001, 11, 23, 13, 45, 56)
    try:
        back = dt.datetime.strptime(probe.strftime(fmt), fmt)
    except ValueError as exc:
        raise ValueError(f"{fmt!r} is not a usable strptime format: {exc}") from None
    if need_full_date and back.date() != probe.date():
        raise ValueError(f"{fmt!r} does not contain a full date (year, month and day)")


class CheckPolicy(_Strict):
    """Severity and threshold of one quality check."""

    severity: Literal["error", "warn", "off"] = "error"
    threshold: float | None = None
    columns: dict[str, float] = Field(default_factory=dict)  # per-column thresholds (null_rate)


# the dataset-specific rule switches under ``quality.rules`` (what each does: docs/data-quality.md)
QUALITY_RULES = (
    "cancellation_prefix",
    "non_sale_prefixes",
    "non_product_codes",
    "non_product_code_patterns",
    "reject_zero_price",
    "reject_duplicates",
    "relax",
)


class QualityPolicy(_Strict):
    """Per-dataset strictness. Defaults are deliberately conservative; see README 'Data quality'."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    max_reject_fraction: CheckPolicy = CheckPolicy(severity="error", threshold=0.05)
    schema_conformance: CheckPolicy = Field(CheckPolicy(severity="error"), alias="schema")
    key_unique: CheckPolicy = CheckPolicy(severity="error")
    null_rate: CheckPolicy = CheckPolicy(severity="warn", threshold=0.5)
    volume: CheckPolicy = CheckPolicy(severity="warn", threshold=0.2)
    freshness_days: CheckPolicy = CheckPolicy(severity="warn", threshold=3)
    referential_integrity: CheckPolicy = CheckPolicy(severity="warn", threshold=0.01)
    reconciliation: CheckPolicy = CheckPolicy(severity="error")
    rules: dict[str, Any] = Field(default_factory=dict)  # dataset-specific rule switches (see contracts)

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(QUALITY_RULES))
        if unknown:
            raise ValueError(
                f"unknown rule(s) {unknown} (check the spelling); known rules are {sorted(QUALITY_RULES)}"
            )
        for key, patterns in value.items():
            if not key.endswith("_patterns"):
                continue
            if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                raise ValueError(f"rules.{key} must be a list of regular expressions")
            for pattern in patterns:
                try:
                    client_regex(pattern)
                except ValueError as exc:
                    raise ValueError(f"rules.{key}: {exc}") from None
        return value


class DatasetSpec(_Strict):
    """One dataset a client sends."""

    canonical: Canonical
    pattern: str
    format: DropFormat = "csv"
    as_of_date: AsOfDateRule = AsOfDateRule()
    reader: ReaderOptions = ReaderOptions()
    limits: DropLimits = DropLimits()
    columns: dict[str, ColumnSpec]
    drift: Literal["accept", "warn", "fail"] = "warn"
    quality: QualityPolicy = QualityPolicy()

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        client_regex(value)
        return value

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, ColumnSpec]) -> dict[str, ColumnSpec]:
        if not value:
            raise ValueError("at least one column must be mapped")
        seen: dict[str, str] = {}
        for client_name, col in value.items():
            if client_name.startswith("_"):
                raise ValueError(f"column {client_name!r}: names starting with '_' are reserved for lineage")
            target = col.name or client_name.lower()
            if target in seen:
                raise ValueError(
                    f"columns {seen[target]!r} and {client_name!r} both map to canonical name {target!r}"
                )
            seen[target] = client_name
        return value

    @model_validator(mode="after")
    def _known_quality_rules(self) -> DatasetSpec:
        rules = self.quality.rules
        unknown = [c for c in rules.get("relax", []) if c not in rule_codes(self.canonical)]
        if unknown:
            raise ValueError(
                f"quality.rules.relax: unknown rule code(s) {unknown}; {self.canonical} rules are "
                f"{rule_codes(self.canonical)}"
            )
        if rules.get("reject_duplicates") not in (None, True, False, "exact", "key"):
            raise ValueError("quality.rules.reject_duplicates must be true, false, 'exact' or 'key'")
        return self

    @model_validator(mode="after")
    def _pattern_has_date(self) -> DatasetSpec:
        if self.as_of_date.source == "filename" and "(?P<as_of_date>" not in self.pattern:
            raise ValueError(
                "as_of_date.from is 'filename' but the pattern has no named group (?P<as_of_date>...)"
            )
        if self.reader.comment is not None and self.format != "fixed_width":
            raise ValueError("reader.comment (skip comment lines) is only supported for format fixed_width")
        if self.reader.widths is not None and self.format != "fixed_width":
            raise ValueError("reader.widths only applies to format fixed_width")
        if self.reader.sheet is not None and self.format != "xlsx":
            raise ValueError("reader.sheet only applies to format xlsx")
        if self.format == "fixed_width" and self.reader.delimiter not in (None, " "):
            raise ValueError(
                "format 'fixed_width' splits on runs of whitespace: leave reader.delimiter unset"
            )
        return self

    @model_validator(mode="after")
    def _canonical_columns_mapped(self) -> DatasetSpec:
        mapped = {self.canonical_name(c) for c in self.columns}
        missing = [c for c in REQUIRED.get(self.canonical, []) if c not in mapped]
        if missing:
            raise ValueError(
                f"canonical dataset {self.canonical!r} needs columns {missing}: map client columns to them "
                "with `name:` under `columns`"
            )
        return self

    def canonical_name(self, client_column: str) -> str:
        col = self.columns[client_column]
        return col.name or client_column.lower()


class CompletenessRule(_Strict):
    """When a landed file counts as complete: a marker file beside it, or no change for a quiet period."""

    mode: Literal["marker", "quiet_period"] = "quiet_period"
    marker_suffix: str = ".done"
    quiet_seconds: float = 30.0


class ZoneRetention(_Strict):
    """How long old versions of one zone are kept (``None``: as the client's policy says)."""

    keep_last: Annotated[int, Field(ge=1)] | None = None
    keep_days: Annotated[float, Field(ge=0)] | None = None


class RetentionPolicy(_Strict):
    """Which old versions retention may delete, per client and zone.

    A version may go only when it is outside the last ``keep_last`` committed versions of its partition
    *and* older than ``keep_days``; with ``keep_last`` unset (the default) nothing is ever deleted.
    ``zones`` overrides either value for one zone (e.g. keep ``rejected`` rows longer). Whatever the policy,
    retention never deletes a current version, a pinned one, one that a kept version was built from
    (lineage), or anything younger than the grace period. Staging leftovers (killed runs) go after
    ``staging_hours``.
    """

    keep_last: Annotated[int, Field(ge=1)] | None = None
    keep_days: Annotated[float, Field(ge=0)] = 0.0
    zones: dict[Literal["raw", "validated", "rejected", "features"], ZoneRetention] = Field(
        default_factory=dict
    )
    staging_hours: Annotated[float, Field(gt=0)] = 24.0

    def for_zone(self, zone: str) -> tuple[int | None, float]:
        """``(keep_last, keep_days)`` for ``zone``: its override, else the client's values."""
        override = self.zones.get(zone)  # type: ignore[call-overload]
        keep_last = override.keep_last if override and override.keep_last is not None else self.keep_last
        keep_days = override.keep_days if override and override.keep_days is not None else self.keep_days
        return keep_last, keep_days


class BackfillSettings(_Strict):
    """How a backfill of many ``as_of_date`` days is cut into runs: at most ``partitions_per_run`` days per
    run (``None``: the default of the client's engine, 31 in-process and 92 on Spark, where every run pays
    a JVM start). ``1`` gives one run per day."""

    partitions_per_run: Annotated[int, Field(ge=1, le=1000)] | None = None

    def resolved(self, engine: str) -> int:
        """The days per run for a client on ``engine``."""
        if self.partitions_per_run is not None:
            return self.partitions_per_run
        return 92 if engine == "spark" else 31


class ClientSpec(_Strict):
    """A client: who they are, where their drops land, and the datasets they send."""

    client: str
    display_name: str | None = None
    landing: str | None = None  # URI or path; default: <RETINA_LANDING_URI>/<client>
    start_date: dt.date
    end_date: dt.date | None = None
    engine: Engine = "pandas"
    completeness: CompletenessRule = CompletenessRule()
    datasets: Annotated[dict[str, DatasetSpec], Field(min_length=1)]
    features: list[str] = Field(default_factory=list)  # registered features (retina_assets.features)
    retention: RetentionPolicy = RetentionPolicy()  # default: keep every version
    backfill: BackfillSettings = BackfillSettings()  # days per run of a backfill over a date range

    @field_validator("client")
    @classmethod
    def _safe_client(cls, value: str) -> str:
        check_name("client", value)
        return value

    @field_validator("landing")
    @classmethod
    def _own_landing(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A client reads only its own landing area: ``<client>`` or a folder below it (relative to
        ``RETINA_LANDING_URI``), or an absolute location the deployment allows explicitly
        (``RETINA_ALLOWED_LANDING``), so no spec can ingest another client's drops."""
        if value is None:
            return value
        if "://" in value or value.startswith("/"):
            allowed = (info.context or {}).get("allowed_landing")
            prefixes = allowed_landing_prefixes() if allowed is None else allowed
            if not any(_below(value, prefix) for prefix in prefixes):
                raise ValueError(
                    f"landing {value!r} is outside the client's own landing area; an absolute location must "
                    f"be allowed by the deployment (RETINA_ALLOWED_LANDING, now {list(prefixes)})"
                )
            return value
        parts = value.replace("\\", "/").split("/")
        if not value.strip() or any(p in ("", ".", "..") for p in parts):
            raise ValueError(
                f"relative landing {value!r} must be a plain folder path below RETINA_LANDING_URI "
                "(no '..', '.', empty segments or leading/trailing '/')"
            )
        client = info.data.get("client")
        if client is not None and parts[0] != client:
            raise ValueError(
                f"relative landing {value!r} must be the client's own folder {client!r} or a folder below it"
            )
        return value

    @field_validator("datasets")
    @classmethod
    def _safe_datasets(cls, value: dict[str, DatasetSpec]) -> dict[str, DatasetSpec]:
        for name in value:
            check_name("dataset", name)
        return value

    @field_validator("features")
    @classmethod
    def _known_features(cls, value: list[str], info: ValidationInfo) -> list[str]:
        for name in value:
            check_name("feature", name)
        catalog: FeatureCatalog | None = (info.context or {}).get("features")
        unknown = [name for name in value if catalog is not None and name not in catalog]
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; registered features are {sorted(catalog or {})}")
        return value

    @model_validator(mode="after")
    def _features_have_inputs(self, info: ValidationInfo) -> ClientSpec:
        catalog: FeatureCatalog = (info.context or {}).get("features") or {}
        for feature in self.features:
            missing = [c for c in catalog.get(feature, ()) if not self.datasets_for(c)]
            if missing:
                raise ValueError(
                    f"feature {feature!r} reads {list(catalog[feature])}: it needs a dataset with "
                    f"canonical: {missing[0]}"
                )
        if self.end_date and self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        return self

    def datasets_for(self, canonical: str) -> list[str]:
        """The client's datasets of one canonical kind (e.g. its ``orders`` datasets), in spec order."""
        return [name for name, d in self.datasets.items() if d.canonical == canonical]

    def has_partition(self, as_of_date: dt.date, today: dt.date | None = None) -> bool:
        """Whether ``as_of_date`` is one of the client's daily partitions: from ``start_date`` up to (not
        including) ``end_date``, and only days that are over (UTC): today's partition exists from tomorrow on."""
        today = today or dt.datetime.now(dt.UTC).date()
        end = min(self.end_date, today) if self.end_date else today
        return self.start_date <= as_of_date < end

    def landing_uri(self, landing_root: str) -> str:
        if self.landing and ("://" in self.landing or self.landing.startswith("/")):
            return self.landing.rstrip("/")
        return f"{landing_root.rstrip('/')}/{self.landing or self.client}"


def allowed_landing_prefixes(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The absolute landing locations (paths or URIs, and everything below them) a client spec may name
    in ``landing:``: ``RETINA_ALLOWED_LANDING``, comma-separated; none by default, so every client lands
    below ``RETINA_LANDING_URI/<client>``."""
    raw = (os.environ if environ is None else environ).get("RETINA_ALLOWED_LANDING", "")
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _below(location: str, prefix: str) -> bool:
    """Whether ``location`` is ``prefix`` or inside it (whole path segments; no ``..`` anywhere)."""
    location, prefix = location.rstrip("/"), prefix.rstrip("/")
    if not prefix or ".." in location.split("/"):
        return False
    return location == prefix or location.startswith(prefix + "/")


# feature name -> the canonical datasets it reads (see retina_assets.features.registry)
FeatureCatalog = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class SpecError:
    """A spec file that could not be loaded: which file, which field, what is wrong."""

    file: str
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.problem}"


class SpecLoadError(ValueError):
    """Raised by :func:`load_client_spec` for one bad file."""

    def __init__(self, errors: list[SpecError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate keys (plain PyYAML silently keeps the last one)."""


def _no_duplicate_keys(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"invalid YAML{where}: {problem}"


def _pydantic_problem(err: Any) -> str:
    kind = err.get("type", "")
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; see docs/onboarding.md for the allowed fields)"
    if kind == "missing":
        return "required field is missing"
    value = err.get("input")
    if kind.startswith(("literal_", "enum", "int_", "float_", "bool_", "date_", "string_", "dict_", "list_")):
        shown = repr(value)
        return f"{msg} (got {shown[:80]})"
    return msg


def load_client_spec(path: Path, features: FeatureCatalog | None = None) -> ClientSpec:
    """Load and validate one spec file, raising :class:`SpecLoadError` with every problem found.

    Each :class:`SpecError` names the file, the dotted field path (e.g. ``datasets.orders.reader.delimiter``)
    and the problem, including the offending value where that helps. ``features`` (name -> canonical
    datasets read) is the catalog that ``features:`` is checked against; without it feature names are only
    checked to be safe names (:func:`retina_assets.catalog.load_clients` always passes the registered ones).
    """
    name = str(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - safe loader
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecLoadError([SpecError(name, "<file>", f"cannot read: {exc}")]) from None
    except yaml.YAMLError as exc:
        raise SpecLoadError([SpecError(name, "<file>", _yaml_problem(exc))]) from None
    if not isinstance(raw, dict):
        raise SpecLoadError([SpecError(name, "<file>", "expected a mapping at the top level")])
    try:
        spec = ClientSpec.model_validate(raw, context={"features": features})
    except ValidationError as exc:
        errors = [
            SpecError(name, ".".join(str(p) for p in err["loc"]) or "<root>", _pydantic_problem(err))
            for err in exc.errors()
        ]
        raise SpecLoadError(errors) from None
    except UnsafeNameError as exc:
        raise SpecLoadError([SpecError(name, "client", str(exc))]) from None
    if path.stem != spec.client:
        raise SpecLoadError(
            [SpecError(name, "client", f"client {spec.client!r} must match the file name {path.stem!r}")]
        )
    return spec


def load_client_specs(
    clients_dir: str | Path, features: FeatureCatalog | None = None
) -> tuple[list[ClientSpec], list[SpecError]]:
    """Load every ``*.yaml``/``*.yml`` in ``clients_dir``; bad files are reported, not fatal.

    Guarantees: a file that fails to load never stops the others from loading; two files declaring the
    same client are both reported after the first (the first in name order wins).
    """
    directory = Path(clients_dir)
    specs: list[ClientSpec] = []
    errors: list[SpecError] = []
    if not directory.is_dir():
        return specs, [SpecError(str(directory), "<dir>", "clients folder does not exist")]
    files: Iterable[Path] = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    seen: dict[str, Path] = {}
    for path in files:
        try:
            spec = load_client_spec(path, features)
        except SpecLoadError as exc:
            errors.extend(exc.errors)
            continue
        if spec.client in seen:
            errors.append(
                SpecError(
                    str(path), "client", f"client {spec.client!r} is already defined in {seen[spec.client]}"
                )
            )
            continue
        seen[spec.client] = path
        specs.append(spec)
    return specs, errors
