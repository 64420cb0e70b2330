"""Emit ``preprocess/<name>_preprocess.py`` from the IR (Jinja2 template beside this file)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from mlc.backends.preprocess.codegen import Generator, INDENT, literal
from mlc.backends.templating import comment_text as _comment
from mlc.backends.templating import environment
from mlc.core.ir import IR
from mlc.core.names import parse_timestamp
from mlc import __version__

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def module_path(ir: IR) -> str:
    return f"preprocess/{ir.name}_preprocess.py"


def _statements(ir: IR) -> tuple[list[str], list[str], list[str]]:
    referenced = {name for d in ir.derived for name in d.depends_on}
    derived_names = {d.name for d in ir.derived}
    inputs = [i for i in ir.inputs if i.name in referenced]
    groups = [(g, o) for g in ir.feature_groups for o in g.outputs if f"{g.name}.{o.name}" in referenced]
    refs = {name: f"v[{name!r}]" for name in referenced | derived_names}
    input_lines = [_input_line(i) for i in inputs]
    group_lines = [f"v[{f'{g.name}.{o.name}'!r}] = ops.group({g.name!r}, {o.name!r}, {o.dtype!r})" for g, o in groups]
    feature_lines = []
    for derived in ir.derived:
        # ops.feature: the executor evaluates the feature once for all its users (Spark: a column
        # of a select stage), instead of copying its expression into each of them
        generator = Generator(refs, list(derived.analyzers))
        code = generator._wrap("ops.feature", [repr(derived.name), generator.render(derived.tree, indent=2)], 1)
        feature_lines.append(f"# {_comment(derived.name)} = {_comment(derived.expression)}")
        feature_lines.append(f"v[{derived.name!r}] = {code}")
    return input_lines, group_lines, feature_lines


def _input_line(item) -> str:
    """``v[name] = ops.input(...)``; an input with a default takes it wherever it is null, in
    both executors (offline: a null in the data; online: a missing or null request field)."""
    read = f"ops.input({item.name!r}, {item.dtype!r})"
    if item.default is None:
        return f"v[{item.name!r}] = {read}"
    default = f"ops.const({literal(_default_value(item))}, {item.dtype!r})"
    return f"v[{item.name!r}] = ops.call('coalesce', {item.dtype!r}, {read}, {default})"


def _default_value(item) -> object:
    """The default as the executors hold it: timestamps in microseconds (ISO-8601 text, or an
    integer of unix seconds as the sources read integers)."""
    if item.dtype == "float64":
        return float(item.default)
    if item.dtype != "timestamp":
        return item.default
    if isinstance(item.default, int):
        return item.default * 1_000_000
    return (parse_timestamp(item.default) - EPOCH) // timedelta(microseconds=1)


def render(ir: IR) -> str:
    env = environment("mlc.backends.preprocess")
    input_lines, group_lines, feature_lines = _statements(ir)
    return env.get_template("preprocess.py.j2").render(
        ir=ir, mlc_version=__version__, indent=INDENT,
        input_lines=input_lines, group_lines=group_lines, feature_lines=feature_lines,
        features=[(d.name, d.dtype) for d in ir.derived],
        inputs=[(i.name, i.dtype) for i in ir.inputs],
        groups=[(f"{g.name}.{o.name}", o.dtype) for g in ir.feature_groups for o in g.outputs],
        analyzers=[a.id for a in ir.analyzers],
    )


def emit(ir: IR) -> dict[str, str]:
    return {module_path(ir): render(ir)}
