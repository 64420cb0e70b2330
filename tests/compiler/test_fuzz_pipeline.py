"""Property tests: whatever text a user writes, `build` reports located diagnostics and never raises."""

from __future__ import annotations

from specs import MINIMAL_SPEC

import copy
import json
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from mlc.core.diagnostics import render_github, render_json, render_text
from mlc.compiler.pipeline import build

BASE = MINIMAL_SPEC

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
CODE = re.compile(r"[EW][0-9]{4}\Z")


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def run_build(folder: Path, text: str, name: str = "spec.mlc.yaml"):
    path = folder / name
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    result = build(str(path))
    check_diagnostics(result)
    return result


def check_diagnostics(result) -> None:
    assert result.ok == (result.ir is not None)
    if result.ok:
        assert not any(d.is_error for d in result.diagnostics)
    else:
        assert any(d.is_error for d in result.diagnostics), "a failed build must say why"
    for diag in result.diagnostics:
        assert CODE.match(diag.code), diag
        assert diag.message
        if diag.span is None:
            continue
        text = result.sources.text(diag.span.file)
        assert text is not None, f"{diag.span.file} not in the source map"
        lines = text.split("\n")
        start, end = diag.span.start, diag.span.end
        assert 1 <= start.line <= len(lines), diag
        assert 1 <= start.col <= len(lines[start.line - 1]) + 1, (diag, lines[start.line - 1])
        assert 0 <= start.offset <= len(text), diag
        assert (end.line, end.col) >= (start.line, start.col), diag
        assert end.line <= len(lines), diag
    # every renderer copes with whatever the stages produced
    render_text(result.diagnostics, result.sources)
    json.loads(render_json(result.diagnostics))
    render_github(result.diagnostics)


# ------------------------------------------------------- (a) random YAML text


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["yes", "no", "~", "1h", "0x10", ".inf", "count()", "a: b", "- x", "{", "'", '"', "\t", "&a", "*a"]),
)
keys = st.one_of(st.text(min_size=1, max_size=10),
                 st.sampled_from(["version", "name", "include", "environments", "sources", "models", "kind", "type",
                                  "features", "preprocess", "deployment", "experiments", "<<", "expr"]))
trees = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)), max_leaves=20)


@st.composite
def mutated_yaml(draw) -> str:
    tree = draw(trees)
    flow = draw(st.booleans())
    text = yaml.safe_dump(tree, default_flow_style=flow, allow_unicode=draw(st.booleans()))
    for _ in range(draw(st.integers(0, 4))):
        if not text:
            break
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["delete", "insert", "insert"]))
        if op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 5)):]
        else:
            text = text[:at] + draw(st.sampled_from([":", "-", "\t", "'", '"', ": ", "\n", "  ", "[", "{", "#",
                                                      "!tag ", "<<: ", "&x ", "*x", "|\n", ">\n", "\\"])) + text[at:]
    return text


@FUZZ
@given(text=mutated_yaml())
@example(text='a: "\\U00110000"\n')  # found by this test: ValueError escaped load_yaml
def test_random_yaml_never_raises(folder, text):
    result = run_build(folder, text)
    assert result.failed_stage in ("load", "validate", "check", None)


@FUZZ
@given(text=st.lists(st.sampled_from(list("ab:-'\"[]{}#&*!|>\t\n ,?%@`\\") + ["version: 1", "name: x", "\u00e9"]),
                     max_size=60).map("".join))
def test_random_characters_never_raise(folder, text):
    run_build(folder, text)


# ---------------------------------------------- (b) mutations of a valid spec


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


BASE_DATA = yaml.safe_load(BASE)
BASE_PATHS = [p for p in _paths(BASE_DATA) if p]


def _parent(data, path):
    node = data
    for part in path[:-1]:
        node = node[part]
    return node


values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(keys, scalars, max_size=3))


@st.composite
def mutated_spec(draw) -> str:
    data = copy.deepcopy(BASE_DATA)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(data, path)
        op = draw(st.sampled_from(["replace", "drop", "rename"]))
        if op == "replace":
            parent[path[-1]] = draw(values)
        elif op == "drop":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            new = draw(keys)
            parent[new] = parent.pop(path[-1])
        else:
            parent.insert(0, parent.pop(path[-1]))
    return yaml.safe_dump(data, sort_keys=draw(st.booleans()), allow_unicode=True)


def test_base_spec_builds(folder):
    assert run_build(folder, BASE).ok


@FUZZ
@given(text=mutated_spec())
def test_mutated_spec_never_raises(folder, text):
    run_build(folder, text)


@FUZZ
@given(path=st.sampled_from(BASE_PATHS), value=values)
def test_single_value_replaced_is_located(folder, path, value):
    data = copy.deepcopy(BASE_DATA)
    _parent(data, path)[path[-1]] = value
    result = run_build(folder, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    if not result.ok:
        # an error caused by one changed value is reported with a position
        assert any(d.span is not None for d in result.diagnostics if d.is_error), result.diagnostics


# ---------------------------------------------- (c) random derived expressions


TOKENS = ["log1p(", "standardize(", "hash_bucket(", "coalesce(", "if(", "clip(", "bucketize(", "cross(", "count()",
          "distance_km", "city", "rider_id", "log_dist", "rider_activity.deliveries_1h", "rider_activity.avg_eta_1d",
          "x", "(", ")", "[", "]", ",", "+", "-", "*", "/", "%", "==", "!=", "<", ">=", "and", "or", "not", "in",
          "'a'", '"b"', "'", '"', "1", "0", "-1", "2.5", "1e9", "true", "null", " ", "  ", "\t", "\\", "\u00e9", "\n",
          "#", ":", "@", "`", "$", ".", "..", "=", "&&", "|"]

expressions = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=12).map("".join),
    st.text(max_size=30),
)


def _placements(expr: str) -> list[str]:
    out = [json.dumps(expr), json.dumps(expr, ensure_ascii=False), "'" + expr.replace("'", "''") + "'"]
    body = "\n".join("      " + line for line in expr.split("\n"))
    out.append("|\n" + body)
    out.append(">-\n" + body)
    return out


@FUZZ
@given(expr=expressions, style=st.integers(0, 4))
def test_random_derived_expression(folder, expr, style):
    assume("\r" not in expr and "\x85" not in expr and "\u2028" not in expr and "\u2029" not in expr)
    scalar = _placements(expr)[style]
    text = BASE.replace("    city_id: hash_bucket(city, 100)\n", f"    city_id: hash_bucket(city, 100)\n    fz: {scalar}\n")
    result = run_build(folder, text)
    first = text.count("\n", 0, text.index("    fz: ")) + 1
    last = first + scalar.count("\n")
    for diag in result.diagnostics:
        if diag.code[:2] in ("E3", "E4") and diag.span is not None:
            # expression problems point inside the expression's own lines
            assert first <= diag.span.start.line <= last, (diag, scalar)


@FUZZ
@given(expr=expressions)
def test_random_targeting_and_filter(folder, expr):
    quoted = json.dumps(expr)
    text = BASE.replace("targeting: \"city in ['beijing']\"", f"targeting: {quoted}")
    text = text.replace("filter: \"status == 'delivered'\"", f"filter: {quoted}")
    run_build(folder, text)
