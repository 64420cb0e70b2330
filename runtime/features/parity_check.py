"""Run both executors on the same rows and compare them (`mlc check-parity`, parity tests).

The comparison is strict: nulls at the same rows; ints, strings and bools equal; floats
bit-identical (NaN equals NaN), except features computed with a function listed in
``ULP_TOLERANT`` (JVM StrictMath vs NumPy, see docs/semantics.md), which may differ by 1 ulp.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from mlc.runtime.features.fitting import tree_children
from mlc.runtime.preprocess import spark_features, transform_numpy
from mlc.runtime.features.fitting import closure, model_closure
from mlc.runtime.features.feature_groups import point_in_time
from mlc.dsl.catalogue import CATALOGUE

ROW_ID = "__mlc_row_id"
# Functions whose float results may differ by one ulp between the executors (docs/semantics.md).
ULP_TOLERANT: frozenset[str] = frozenset({"pow", "sin", "cos"})
_SPARK_KINDS = {"bool": "BooleanType", "int64": "LongType", "float64": "DoubleType",
                "string": "StringType", "timestamp": "LongType"}


# ------------------------------------------------------------------ execution


def numpy_outputs(module: Any, rows: Sequence[Mapping[str, Any]], fitted: Mapping | None = None) -> dict[str, list]:
    names = {**module.INPUTS, **module.GROUP_OUTPUTS}
    columns = {name: [row.get(name) for row in rows] for name in names}
    return {name: vec.to_list() for name, vec in transform_numpy(module, columns, fitted).items()}


def spark_frame(spark: Any, module: Any, rows: Sequence[Mapping[str, Any]]) -> Any:
    """The rows as a DataFrame with the module's dtypes; timestamps given as int microseconds."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    declared = {**module.INPUTS, **module.GROUP_OUTPUTS}
    names = list(declared)
    fields = [T.StructField(ROW_ID, T.LongType(), False)]
    fields += [T.StructField(f"c{i}", getattr(T, _SPARK_KINDS[declared[n]])(), True) for i, n in enumerate(names)]
    data = [tuple([i] + [row.get(n) for n in names]) for i, row in enumerate(rows)]
    df = spark.createDataFrame(data, T.StructType(fields))
    selected = [F.col(ROW_ID)]
    for i, name in enumerate(names):
        col = F.col(f"c{i}")
        selected.append((F.timestamp_micros(col) if declared[name] == "timestamp" else col).alias(name))
    return df.select(*selected)


def spark_outputs(spark: Any, module: Any, rows: Sequence[Mapping[str, Any]], fitted: Mapping | None = None) -> dict[str, list]:
    from pyspark.sql import functions as F

    frame, columns = spark_features(module, spark_frame(spark, module, rows), fitted)
    selected = [(F.unix_micros(c) if module.FEATURES[n] == "timestamp" else c).alias(f"f{i}")
                for i, (n, c) in enumerate(columns.items())]
    result = frame.select(F.col(ROW_ID), *selected).orderBy(ROW_ID).collect()
    return {name: [row[f"f{i}"] for row in result] for i, name in enumerate(columns)}


def collect_rows(df: Any, module: Any, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` rows of the module's inputs from ``df`` as Python values (timestamps as
    microseconds); inputs and group outputs missing from ``df`` are left out (null)."""
    from pyspark.sql import functions as F

    declared = {**module.INPUTS, **module.GROUP_OUTPUTS}
    present = [n for n in declared if n in df.columns]
    selected = [(F.unix_micros(F.col(f"`{n}`")) if declared[n] == "timestamp" else F.col(f"`{n}`")).alias(f"c{i}")
                for i, n in enumerate(present)]
    if not selected:
        return [{} for _ in range(min(limit, df.count()))]
    return [{n: row[f"c{i}"] for i, n in enumerate(present)} for row in df.select(*selected).limit(limit).collect()]


# ----------------------------------------------------------------- comparison


def float_bits(value: float) -> bytes:
    return struct.pack("<d", value)


def ulps_apart(a: float, b: float) -> int:
    def ordered(x: float) -> int:
        bits = struct.unpack("<q", float_bits(x))[0]
        return bits if bits >= 0 else -(bits & 0x7FFFFFFFFFFFFFFF)

    return abs(ordered(a) - ordered(b))


def same(a: Any, b: Any, dtype: str, ulp_tolerant: bool = False) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if dtype == "float64":
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return float_bits(a) == float_bits(b) or (ulp_tolerant and ulps_apart(a, b) <= 1)
    return a == b and type(a) is type(b)


@dataclass
class FeatureParity:
    name: str
    dtype: str
    compared: int
    mismatches: int = 0
    examples: list[tuple[int, Any, Any]] = field(default_factory=list)   # (row, numpy, spark)
    nulls: int = 0                     # rows where the NumPy executor gave null

    @property
    def all_null(self) -> bool:
        """Null on every row compared: the comparison of this feature proves nothing."""
        return self.compared > 0 and self.nulls == self.compared


@dataclass
class OutputCoverage:
    """A feature-group output read by the features, over the rows compared."""

    name: str                          # `group.output`
    values: int                        # rows with a value
    nulls: int                         # rows with null
    source: str | None = None          # how the values were obtained; None: not obtained
    reason: str | None = None          # why not (then every row is null)


@dataclass
class ParityReport:
    rows: int
    features: list[FeatureParity]
    missing: list[str] = field(default_factory=list)     # inputs read by the features, absent from the data
    groups: list[OutputCoverage] = field(default_factory=list)
    section: "Section | None" = None                     # the training source compared (`mlc check-parity`)

    @property
    def ok(self) -> bool:
        return all(f.mismatches == 0 for f in self.features)

    @property
    def all_null(self) -> list[FeatureParity]:
        return [f for f in self.features if f.all_null]

    @property
    def uncovered(self) -> list[OutputCoverage]:
        """Group outputs with no value on any row compared."""
        return [g for g in self.groups if g.values == 0]


def compare(numpy_out: Mapping[str, list], spark_out: Mapping[str, list], dtypes: Mapping[str, str],
            tolerant: frozenset[str] = frozenset(), examples: int = 3) -> list[FeatureParity]:
    report = []
    for name, dtype in dtypes.items():
        left, right = numpy_out[name], spark_out[name]
        feature = FeatureParity(name, dtype, len(left), nulls=sum(1 for a in left if a is None))
        for i, (a, b) in enumerate(zip(left, right)):
            if not same(a, b, dtype, name in tolerant):
                feature.mismatches += 1
                if len(feature.examples) < examples:
                    feature.examples.append((i, a, b))
        feature.mismatches += abs(len(left) - len(right))
        report.append(feature)
    return report


def tolerant_features(ir: Any) -> frozenset[str]:
    """Features whose value involves a 1-ulp-tolerant function (directly or through others)."""

    def uses(node: dict) -> bool:
        if node["kind"] == "call" and node["function"] in ULP_TOLERANT:
            return True
        if node["kind"] == "ref" and node["name"] in found:
            return True
        return any(uses(child) for child in tree_children(node))

    found: set[str] = set()
    for derived in ir.derived:
        if uses(derived.tree):
            found.add(derived.name)
    return frozenset(found)


def check(spark: Any, ir: Any, module: Any, df: Any, limit: int, fitted: Mapping | None,
          sample: "Sample | None" = None, features: Iterable[str] | None = None,
          section: "Section | None" = None) -> ParityReport:
    """Both executors on up to ``limit`` rows of ``df``. ``sample`` (from :func:`sample_rows`, whose
    ``df`` is then passed here) says how the feature-group outputs were obtained. ``features``
    (default: every derived feature; a set closed under what they read, as a section's) are the
    features compared, and what the inputs and group-output coverage are about; ``fitted`` must
    hold every analyzer of the module (all features are computed)."""
    features = None if features is None else tuple(features)
    rows = collect_rows(df, module, limit)
    missing = missing_inputs(ir, df, features)
    numpy_out = numpy_outputs(module, rows, fitted)
    spark_out = spark_outputs(spark, module, rows, fitted)
    chosen = None if features is None else set(features)
    dtypes = {n: t for n, t in module.FEATURES.items() if chosen is None or n in chosen}
    compared = compare(numpy_out, spark_out, dtypes, tolerant_features(ir))
    groups, used = [], read_outputs(ir, features)
    for group in referenced_groups(ir, features):
        for output in group.outputs:
            name = f"{group.name}.{output.name}"
            if name not in used:
                continue
            if sample is not None and (group.name in sample.how or group.name in sample.uncovered):
                how, reason = sample.how.get(group.name), sample.uncovered.get(group.name)
            else:
                how, reason = ("columns of the data", None) if name in df.columns else (None, "not in the data")
            values = sum(1 for row in rows if row.get(name) is not None)
            groups.append(OutputCoverage(name, values, len(rows) - values, how, reason))
    return ParityReport(len(rows), compared, missing, groups, section)


# ------------------------------------------------- what the rows compared cover


def read_outputs(ir: Any, features: Iterable[str] | None = None) -> set[str]:
    """Inputs and ``group.output`` names read by the derived features (those in ``features``)."""
    chosen = None if features is None else set(features)
    return {name for d in ir.derived if chosen is None or d.name in chosen for name in d.depends_on}


def missing_inputs(ir: Any, df: Any, features: Iterable[str] | None = None) -> list[str]:
    """Preprocess inputs read by the features (those in ``features``) that are not columns of
    ``df`` (in spec order)."""
    used = read_outputs(ir, features)
    return [i.name for i in ir.inputs if i.name in used and i.name not in df.columns]


def referenced_groups(ir: Any, features: Iterable[str] | None = None) -> list[Any]:
    """Feature groups with an output read by the features (those in ``features``), in spec order."""
    used = read_outputs(ir, features)
    return [g for g in ir.feature_groups if any(f"{g.name}.{o.name}" in used for o in g.outputs)]


@dataclass(frozen=True)
class Section:
    """What `mlc check-parity` compares on one training source: the derived features read by the
    models trained on it (the closure of their inputs), plus the features read by no model that
    are placed there (``unreached``, with what they read)."""

    source: Any                        # SourceIR; None: a data file (a spec without models)
    models: tuple[str, ...]
    features: tuple[str, ...]          # derived features, IR order
    unreached: tuple[str, ...] = ()


def sections(ir: Any, columns: Mapping[str, Iterable[str]], fallback: Any = None) -> list[Section]:
    """One section per training source, in the order of the first model trained on it.

    A derived feature read by no model is compared on the first training source whose data
    (``columns``: source name -> its columns) has every preprocess input it reads, else on the
    first training source (where its missing inputs are E7250 like any other). Without models,
    one section for ``fallback`` (the source of the data, or None) with every feature."""
    derived = [d.name for d in ir.derived]
    inputs = {i.name for i in ir.inputs}
    if not ir.models:
        return [Section(fallback, (), tuple(derived))]
    by_name = {s.name: s for s in ir.sources}
    order = list(dict.fromkeys(m.training.source for m in ir.models))
    reads: dict[str, set[str]] = {name: set() for name in order}
    for model in ir.models:
        reads[model.training.source].update(model_closure(ir, model))
    reached = set().union(*reads.values())
    placed: dict[str, list[str]] = {name: [] for name in order}
    for name in derived:
        if name in reached:
            continue
        needed = [n for n in closure(ir, [name]) if n in inputs]
        home = next((s for s in order if all(n in set(columns.get(s, ())) for n in needed)), order[0])
        placed[home].append(name)
        reads[home].update(closure(ir, [name]))
    return [Section(by_name[s], tuple(m.name for m in ir.models if m.training.source == s),
                    tuple(n for n in derived if n in reads[s]), tuple(placed[s])) for s in order]


@dataclass
class Sample:
    """The rows to compare: at most ``limit`` rows of the data, with the outputs of every
    feature group the features read. ``how``/``uncovered``: group -> how its outputs were obtained,
    or why they could not be (they are then null)."""

    df: Any
    how: dict[str, str] = field(default_factory=dict)
    uncovered: dict[str, str] = field(default_factory=dict)


def sample_rows(ir: Any, df: Any, limit: int, source: Any, read_events: Any,
                features: Iterable[str] | None = None) -> Sample:
    """The first ``limit`` rows of ``df`` (the rows of ``source``, the training source, or of a
    data file when ``source`` is None) with each read feature group's outputs computed point in
    time at the row's event time (``feature_groups.point_in_time``: events strictly before it,
    as training sets do), from the events ``read_events(source_name)`` returns. Outputs already
    columns of ``df`` are kept. Materialised once (``localCheckpoint``), so fitting and the
    comparison see the same rows. ``features``: only the groups those features read."""
    sample = df.limit(limit)
    how: dict[str, str] = {}
    uncovered: dict[str, str] = {}
    label_time = source.event_time if source is not None else None
    sources = {s.name: s for s in ir.sources}
    for group in referenced_groups(ir, features):
        names = [f"{group.name}.{o.name}" for o in group.outputs]
        keys = [k.name for k in group.keys if k.name not in df.columns]
        events_source = sources.get(group.source)
        if all(n in df.columns for n in names):
            how[group.name] = "columns of the data"
        elif source is None:
            uncovered[group.name] = "the data is not a declared source, so it has no event time to join the group at"
        elif label_time is None:
            uncovered[group.name] = f"the training source `{source.name}` declares no `event_time`"
        elif label_time not in df.columns:
            uncovered[group.name] = f"the data has no event time column `{label_time}`"
        elif keys:
            uncovered[group.name] = f"the data lacks the key column(s) {', '.join(f'`{k}`' for k in keys)}"
        elif events_source is None or events_source.event_time is None:
            uncovered[group.name] = f"its source `{group.source}` declares no `event_time`"
        else:
            events = read_events(group.source)
            present = [n for n in names if n in sample.columns]
            sample = point_in_time(sample.drop(*present) if present else sample, label_time, events, group,
                                   events_source.event_time)
            how[group.name] = (f"point in time from `{group.source}` events before each row's `{label_time}`"
                               + ("" if events.limit(1).count() else f" (but `{group.source}` has no events)"))
    return Sample(sample.localCheckpoint(), how, uncovered)


# ------------------------------------------------------- time-zone database releases


def zoned_features(ir: Any) -> list[str]:
    """Derived features that call a function with a time zone other than UTC (``hour(ts, tz)``,
    ``date_format(ts, f, tz)`` ...): their values depend on the tz database release."""
    def zoned(node: Any) -> bool:
        if not isinstance(node, dict):
            return False
        if node.get("kind") == "call":
            function = CATALOGUE.get(node.get("function"))
            params = function.params if function is not None else ()
            for param, arg in zip(params, node.get("args", ())):
                if param.name == "tz" and isinstance(arg, dict) and arg.get("value") not in (None, "UTC"):
                    return True
        return any(zoned(child) for child in tree_children(node))

    return [d.name for d in ir.derived if zoned(d.tree)]


def tz_release_warning(spark: Any, ir: Any) -> str | None:
    """A warning when features use time zones and the JVM's tz database release differs from the
    ``tzdata`` package's (docs/semantics.md: both executors must use the same release)."""
    features = zoned_features(ir)
    if not features:
        return None
    import tzdata

    try:
        jvm = str(spark._jvm.java.time.zone.ZoneRulesProvider.getVersions("UTC").lastKey())
    except Exception:  # noqa: BLE001 - a JVM without the provider API: nothing to compare
        return None
    if jvm == tzdata.IANA_VERSION:
        return None
    return (f"warning: the JVM's tz database is {jvm} and the tzdata package's {tzdata.IANA_VERSION}: zones whose "
            f"rules changed between them give different local times offline and online; features using time "
            f"zones: {', '.join(features[:6])}{' ...' if len(features) > 6 else ''} (docs/semantics.md)")
