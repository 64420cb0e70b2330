"""Typecheck every expression of a spec and keep the typed trees for lowering.

- feature-group filters: bool, over the group's source columns;
- feature-group features: one aggregate call over the source columns;
- preprocess derived features: scalars and analyzers over inputs, group outputs
  (`group.feature_window`) and each other (resolved in topological order, cycles reported);
- experiment and switchback targeting: bool, over the preprocess inputs.

Issues come back with offsets inside the expression text and are mapped into the YAML file
(quoted and block scalars included) by :class:`~mlc.compiler.reporter.Reporter`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlc.core.ir import output_name
from mlc.core.names import duration_seconds
from mlc.compiler.reporter import Reporter
from mlc.schemas import spec as S
from mlc.dsl import ExprSyntaxError, check_expression, parse_dtype, parse_expression, resolve_derived
from mlc.dsl.scope import MappingScope
from mlc.dsl.types import ERROR
from mlc.core.suggest import did_you_mean
from mlc.compiler.facts import default_fits

AGGREGATE_DTYPES = {"count": "int64", "approx_count_distinct": "int64", "avg": "float64"}


@dataclass
class TypedExpressions:
    aggregations: dict[tuple[str, str], Any] = field(default_factory=dict)   # (group, feature) -> TypedExpr
    filters: dict[str, Any] = field(default_factory=dict)                    # group -> TypedExpr
    group_outputs: dict[str, dict[str, str]] = field(default_factory=dict)   # group -> output -> dtype
    derived: Any = None                                                      # dsl Resolution
    input_dtypes: dict[str, str] = field(default_factory=dict)                # inputs with a valid dtype
    raw_input_dtypes: dict[str, str] = field(default_factory=dict)            # every input, as written
    targeting: dict[tuple, Any] = field(default_factory=dict)                # spec path -> TypedExpr

    def feature_dtypes(self) -> dict[str, str]:
        """Preprocess inputs and derived features (that typechecked) -> dtype name."""
        dtypes = dict(self.input_dtypes)
        if self.derived is not None:
            dtypes.update({name: str(dtype) for name, dtype in self.derived.dtypes.items() if str(dtype) != "error"})
        return dtypes


def typecheck_spec(spec: S.Spec, report: Reporter) -> TypedExpressions:
    typed = TypedExpressions()
    typed.input_dtypes = _input_dtypes(spec)
    typed.raw_input_dtypes = {name: item.dtype for name, item in spec.preprocess.inputs.items()}
    for name, group in spec.feature_groups.items():
        _check_group(spec, name, group, report, typed)
    _check_derived(spec, report, typed)
    _check_targeting(spec, report, typed)
    return typed


def _dtype(text: str) -> Any:
    try:
        return parse_dtype(text)
    except ValueError:
        return None


def _input_dtypes(spec: S.Spec) -> dict[str, str]:
    out = {}
    for name, item in spec.preprocess.inputs.items():
        dtype = _dtype(item.dtype)
        if dtype is not None:
            out[name] = str(dtype)
    return out


def _scope(names: dict[str, str]) -> Any:
    """A scope of the given names; a name whose dtype is invalid (already reported) gets the
    error type, so its uses do not cascade into "unknown name" errors."""
    return MappingScope({name: _dtype(dtype) or ERROR for name, dtype in names.items()})


class _Unknowable:
    """Scope for expressions over a source whose columns are unknown (the source is missing or
    declares no columns, which is reported elsewhere): every name has the error type."""

    def lookup(self, parts: tuple[str, ...]) -> Any:
        return ERROR

    def candidates(self) -> list[str]:
        return []


def check_one(text: str, scope: Any, context: str, path: tuple, report: Reporter) -> Any:
    """Parse + typecheck one expression; report its issues; the typed tree or None."""
    try:
        tree = parse_expression(text)
    except ExprSyntaxError as exc:
        _report_issue(report, path, exc.issue)
        return None
    typed, issues = check_expression(tree, scope, context)
    for issue in issues:
        _report_issue(report, path, issue)
    return None if any(issue.is_error for issue in issues) else typed


def _report_issue(report: Reporter, path: tuple, issue: Any) -> None:
    report.expression_issue(path, issue.code, issue.message, issue.start, issue.end, issue.hint, issue.severity)


def _check_group(spec: S.Spec, name: str, group: S.FeatureGroup, report: Reporter, typed: TypedExpressions) -> None:
    source = spec.sources.get(group.source)
    scope = _scope(source.column_dtypes()) if source is not None and source.columns is not None else _Unknowable()
    base = ("feature_groups", name)
    if group.filter is not None:
        result = check_one(group.filter, scope, "filter", base + ("filter",), report)
        if result is not None:
            typed.filters[name] = result
    outputs: dict[str, str] = {}
    for feature, text in group.features.items():
        result = check_one(text, scope, "aggregation", base + ("features", feature), report)
        dtype = str(result.dtype) if result is not None else "float64"
        if result is not None:
            typed.aggregations[(name, feature)] = result
        for window in group.windows:
            if duration_seconds(window):
                outputs[output_name(feature, window)] = dtype
    typed.group_outputs[name] = outputs
    _check_group_defaults(name, group, typed, report)


def _check_group_defaults(name: str, group: S.FeatureGroup, typed: TypedExpressions, report: Reporter) -> None:
    outputs = typed.group_outputs[name]
    for target, value in group.defaults.items():
        path = ("feature_groups", name, "defaults", target)
        if target in group.features:
            feature = typed.aggregations.get((name, target))
            dtype = str(feature.dtype) if feature is not None else None
        elif target in outputs:
            dtype = outputs[target]
        else:
            report.error("E5002", f"default for `{target}`, which is neither a feature nor an output of "
                         f"feature group `{name}`", path, at_key=True,
                         hint=did_you_mean(target, [*group.features, *outputs], "features and outputs"))
            continue
        if dtype is not None and value is not None and not group_default_fits(dtype, value):
            report.error("E5031", f"default {value!r} of `{target}` in feature group `{name}` is not a {dtype}",
                         path, hint="timestamp defaults are ISO-8601 UTC text" if dtype == "timestamp" else None)


def group_default_fits(dtype: str, value: object) -> bool:
    if dtype == "timestamp":
        return isinstance(value, str) and default_fits(dtype, value)
    return default_fits(dtype, value)


def _check_derived(spec: S.Spec, report: Reporter, typed: TypedExpressions) -> None:
    names = dict(typed.raw_input_dtypes)
    for group, outputs in typed.group_outputs.items():
        names.update({f"{group}.{output}": dtype for output, dtype in outputs.items()})
    texts = {name: (entry if isinstance(entry, str) else entry.expr) for name, entry in spec.preprocess.features.items()}
    resolution = resolve_derived(texts, _scope(names))
    for feature, issues in resolution.issues.items():
        entry = spec.preprocess.features[feature]
        path = ("preprocess", "features", feature) + (() if isinstance(entry, str) else ("expr",))
        for issue in issues:
            _report_issue(report, path, issue)
    _check_not_lists(spec, resolution, report)
    typed.derived = resolution


def _check_not_lists(spec: S.Spec, resolution: Any, report: Reporter) -> None:
    """A derived feature is one value per row: a list (`split(...)`) only feeds `size` (E5060)."""
    for feature, dtype in resolution.dtypes.items():
        if dtype.is_list and feature in spec.preprocess.features:
            entry = spec.preprocess.features[feature]
            path = ("preprocess", "features", feature) + (() if isinstance(entry, str) else ("expr",))
            report.error("E5060", f"derived feature `{feature}` is a {dtype}; a feature holds one value per row",
                         path, hint="count the items with `size(...)`, e.g. `size(split(genres, '|'))`")


def _check_targeting(spec: S.Spec, report: Reporter, typed: TypedExpressions) -> None:
    scope = _scope(typed.raw_input_dtypes)
    for layer_name, layer in spec.experiments.layers.items():
        for exp_name, experiment in layer.experiments.items():
            if experiment.targeting is not None:
                path = ("experiments", "layers", layer_name, "experiments", exp_name, "targeting")
                result = check_one(experiment.targeting, scope, "condition", path, report)
                if result is not None:
                    typed.targeting[path] = result
    for sb_name, switchback in spec.experiments.switchbacks.items():
        if switchback.targeting is not None:
            path = ("experiments", "switchbacks", sb_name, "targeting")
            result = check_one(switchback.targeting, scope, "condition", path, report)
            if result is not None:
                typed.targeting[path] = result
