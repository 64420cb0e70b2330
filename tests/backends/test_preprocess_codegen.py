"""The generated preprocessing module: readable, deterministic, and safe against hostile specs."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from conftest import EXAMPLES, run_mlc
from mlc.compiler.pipeline import build

OPS_METHODS = {"input", "group", "const", "unary", "binary", "isin", "call", "analyzer", "feature"}
ALLOWED_NAMES = {"ops", "v", "FEATURES", "name"}


def generated(tmp_path: Path, spec: str) -> str:
    from mlc.backends.preprocess import render

    path = tmp_path / "s.mlc.yaml"
    path.write_text(spec, encoding="utf-8")
    result = build(str(path))
    assert result.ok, [d.message for d in result.diagnostics]
    return render(result.ir)


def assert_only_ops_calls(source: str) -> None:
    tree = ast.parse(source)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert [f.name for f in functions] == ["transform"]
    for node in ast.walk(tree):
        assert not isinstance(node, (ast.Import, ast.ImportFrom, ast.Lambda, ast.ClassDef, ast.Global)), ast.dump(node)
        if isinstance(node, ast.Call):
            func = node.func
            assert isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name), ast.unparse(node)
            assert func.value.id == "ops" and func.attr in OPS_METHODS, ast.unparse(node)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            module_level = {"MLDL_VERSION", "SPEC_NAME", "INPUTS", "GROUP_OUTPUTS", "FEATURES", "ANALYZERS"}
            assert node.id in ALLOWED_NAMES | module_level, node.id
        if isinstance(node, ast.Attribute):
            assert not node.attr.startswith("_"), node.attr


HOSTILE_STRINGS = [
    "'); __import__('os').system('echo pwned'); ('",
    '"""; import os; """',
    "line\nbreak\rcarriage",
    "\\x41\\u00e9 back\\\\slash",
    "\u2028\u2029\x85 separators",
    "emoji 😀 and 中文 and e\u0301",
    "#  not a comment",
    "{{ jinja }} {% raw %}",
]


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_hostile_string_literals_are_escaped(tmp_path, text):
    spec = (
        "version: 1\nname: hostile\npreprocess:\n  inputs:\n    city: {dtype: string}\n  features:\n"
        f"    is_it: {yaml_string('city == ' + repr_mlc(text))}\n"
        f"    both: {yaml_string('concat(city, ' + repr_mlc(text) + ')')}\n"
    )
    source = generated(tmp_path, spec)
    assert_only_ops_calls(source)
    constants = [n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert text in constants  # the literal survives exactly, as data


def yaml_string(text: str) -> str:
    """A double-quoted YAML scalar (JSON syntax; astral characters written as themselves,
    since YAML does not join surrogate-pair escapes)."""
    body = json.dumps(text, ensure_ascii=False)
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in body)  # YAML breaks lines at U+2028


def repr_mlc(text: str) -> str:
    """An mlc string literal for ``text`` (single-quoted, escaped)."""
    out = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return "'" + out + "'"


@pytest.mark.parametrize("name", ["__import__", "os.system", "x; import os", "Class", "lambda", "a-b", "é"])
def test_hostile_names_are_rejected(tmp_path, name):
    spec = (f"version: 1\nname: hostile\npreprocess:\n  inputs:\n    {json.dumps(name)}: {{dtype: string}}\n"
            "  features:\n    ok: \"1\"\n")
    path = tmp_path / "s.mlc.yaml"
    path.write_text(spec, encoding="utf-8")
    result = build(str(path))
    assert not result.ok
    assert any(d.code == "E5001" for d in result.diagnostics)


def test_unknown_functions_never_reach_generated_code(tmp_path):
    spec = "version: 1\nname: hostile\npreprocess:\n  inputs:\n    x: {dtype: string}\n  features:\n    f: eval(x)\n"
    path = tmp_path / "s.mlc.yaml"
    path.write_text(spec, encoding="utf-8")
    result = build(str(path))
    assert [d.code for d in result.diagnostics] == ["E4002"]


@pytest.mark.parametrize("example", ["ctr_criteo/ctr.mlc.yaml", "delivery_eta/delivery.mlc.yaml"])
def test_example_modules_parse_and_call_only_ops(tmp_path, example):
    result = run_mlc("compile", str(EXAMPLES / example), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    [module] = list((tmp_path / "out" / "preprocess").glob("*_preprocess.py"))
    source = module.read_text()
    assert_only_ops_calls(source)
    assert "import" not in source
    compile(source, str(module), "exec")


def test_executors_refuse_functions_outside_the_catalogue():
    from mlc.runtime.numpy_ops import NumpyOps
    from mlc.runtime.numpy_ops.core import UnknownFunction

    ops = NumpyOps({}, 1)
    with pytest.raises(UnknownFunction):
        ops.call("__import__", "string", "os")
