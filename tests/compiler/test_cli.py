"""The command line as users run it: exit codes, formats, atomic compile, did-you-mean."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import EXAMPLES, run_mlc

GOOD = """\
version: 1
name: tiny
sources:
  events:
    kind: csv
    path: events.csv
    event_time: ts
    columns: {ts: timestamp, x: float64, y: float64}
preprocess:
  inputs:
    x: {dtype: float64, default: 0.0}
  features:
    lx: log1p(x)
models:
  m:
    type: lr
    task: regression
    label: y
    inputs: {dense: [lx]}
    training: {source: events}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_version_and_help():
    from mlc import __version__

    result = run_mlc("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"mlc {__version__}"
    result = run_mlc("--help")
    assert result.returncode == 0
    for command in ("validate", "compile", "schema", "functions"):
        assert command in result.stdout


def test_mistyped_command_suggests_and_exits_2():
    result = run_mlc("complie", "x.yaml")
    assert result.returncode == 2
    assert "did you mean `mlc compile`?" in result.stderr


def test_missing_required_flag_is_a_usage_error(tmp_path):
    result = run_mlc("compile", str(write(tmp_path / "a.mlc.yaml", GOOD)))
    assert result.returncode == 2 and "--out" in result.stderr


def test_validate_ok(tmp_path):
    result = run_mlc("validate", str(write(tmp_path / "a.mlc.yaml", GOOD)))
    assert result.returncode == 0, result.stderr
    assert "ok: 1 spec valid" in result.stderr


def test_missing_file_is_a_located_error_not_a_traceback(tmp_path):
    result = run_mlc("validate", "nope.mlc.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "error[E1006]: file not found: nope.mlc.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_compile_writes_manifest_and_mldl(tmp_path):
    spec = write(tmp_path / "a.mlc.yaml", GOOD)
    result = run_mlc("compile", "a.mlc.yaml", "-o", "build", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "build" / "manifest.json").read_text())
    assert manifest["spec"]["name"] == "tiny"
    assert manifest["spec"]["files"] == [{"path": "a.mlc.yaml", "sha256": manifest["spec"]["files"][0]["sha256"]}]
    import hashlib

    for path, digest in manifest["files"].items():
        assert hashlib.sha256((tmp_path / "build" / path).read_bytes()).hexdigest() == digest
    mldl = json.loads((tmp_path / "build" / "mldl.json").read_text())
    assert mldl["derived"][0]["expression"] == "log1p(x)"
    assert spec.exists()


def test_failed_compile_leaves_previous_build_intact(tmp_path):
    write(tmp_path / "a.mlc.yaml", GOOD)
    assert run_mlc("compile", "a.mlc.yaml", "-o", "build", cwd=tmp_path).returncode == 0
    before = {p: p.read_bytes() for p in (tmp_path / "build").rglob("*") if p.is_file()}
    write(tmp_path / "a.mlc.yaml", GOOD.replace("log1p(x)", "log1p(x"))
    result = run_mlc("compile", "a.mlc.yaml", "-o", "build", cwd=tmp_path)
    assert result.returncode == 1 and "error[E3" in result.stderr
    after = {p: p.read_bytes() for p in (tmp_path / "build").rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mlc-build-")]


def test_compile_refuses_to_replace_a_folder_that_is_not_a_build(tmp_path):
    write(tmp_path / "a.mlc.yaml", GOOD)
    (tmp_path / "precious").mkdir()
    write(tmp_path / "precious" / "notes.txt", "keep me")
    result = run_mlc("compile", "a.mlc.yaml", "-o", "precious", cwd=tmp_path)
    assert result.returncode == 1 and "E6002" in result.stderr
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


def test_formats_json_and_github(tmp_path):
    write(tmp_path / "a.mlc.yaml", GOOD.replace("log1p(x)", "log1p(xx)"))
    result = run_mlc("validate", "a.mlc.yaml", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    [diag] = json.loads(result.stdout)["diagnostics"]
    assert (diag["code"], diag["file"], diag["line"], diag["col"]) == ("E4001", "a.mlc.yaml", 13, 15)
    assert diag["hint"] == "did you mean `x`?"
    result = run_mlc("validate", "a.mlc.yaml", "--format", "github", cwd=tmp_path)
    assert result.stdout.startswith("::error file=a.mlc.yaml,line=13,col=15,endLine=13,endColumn=17,title=E4001::")


def test_text_format_has_caret_and_help(tmp_path):
    write(tmp_path / "a.mlc.yaml", GOOD.replace("log1p(x)", "log1p(xx)"))
    result = run_mlc("validate", "a.mlc.yaml", cwd=tmp_path)
    assert result.stderr.splitlines()[:4] == [
        "a.mlc.yaml:13:15: error[E4001]: unknown name `xx`",
        "  13 |     lx: log1p(xx)",
        "     |               ^^",
        "  help: did you mean `x`?",
    ]


def test_schema_command_prints_committed_schema():
    from mlc.schemas import jsonschema_gen

    committed = Path(jsonschema_gen.__file__).with_name("mlc.schema.json").read_text()
    assert run_mlc("schema").stdout == committed
    committed = Path(jsonschema_gen.__file__).with_name("mldl.schema.json").read_text()
    assert run_mlc("schema", "--mldl").stdout == committed


def test_functions_reference_lists_catalogue():
    from mlc.dsl.catalogue import names

    result = run_mlc("functions")
    assert result.returncode == 0
    for name in names():
        assert name in result.stdout
    assert run_mlc("functions", "--format", "markdown").stdout == Path(
        EXAMPLES.parent / "docs" / "functions.md").read_text()


def test_env_overlay_changes_the_build(tmp_path):
    write(tmp_path / "a.mlc.yaml", GOOD + "environments:\n  prod:\n    deployment: {replicas: 4}\n")
    assert run_mlc("compile", "a.mlc.yaml", "-o", "dev", cwd=tmp_path).returncode == 0
    result = run_mlc("compile", "a.mlc.yaml", "-o", "prod", "--env", "prod", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    dev = json.loads((tmp_path / "dev" / "mldl.json").read_text())
    prod = json.loads((tmp_path / "prod" / "mldl.json").read_text())
    assert [s["replicas"] for s in dev["deployment"]["shards"]] == [1]
    assert [s["replicas"] for s in prod["deployment"]["shards"]] == [4]
    assert json.loads((tmp_path / "prod" / "manifest.json").read_text())["spec"]["environment"] == "prod"
    result = run_mlc("compile", "a.mlc.yaml", "-o", "x", "--env", "prdo", cwd=tmp_path)
    assert result.returncode == 1 and "did you mean `prod`?" in result.stderr


def test_every_code_used_in_the_source_is_documented():
    import re

    from mlc.core.codes import all_codes, render_markdown

    repo = EXAMPLES.parent
    used = set()
    for folder in ("compiler", "schemas", "dsl", "backends"):
        for path in (repo / folder).rglob("*.py"):
            used |= set(re.findall(r'"([EW][0-9]{4})"', path.read_text()))
    assert used, "no codes found"
    assert sorted(used - set(all_codes())) == []
    assert (repo / "docs" / "errors.md").read_text() == render_markdown()


def test_committed_json_schemas_are_current_and_valid():
    import jsonschema
    import yaml

    from mlc.schemas import jsonschema_gen as gen

    folder = Path(gen.__file__).parent
    for name, schema in gen.committed().items():
        assert (folder / name).read_text() == gen.render(schema), f"{name} is stale: run `mlc schema --write`"
        jsonschema.Draft202012Validator.check_schema(schema)
    fragment = gen.fragment_schema()
    common = yaml.safe_load((EXAMPLES / "delivery_eta" / "common.mlc.yaml").read_text())
    jsonschema.validate(common, fragment)
    with __import__("pytest").raises(jsonschema.ValidationError):
        jsonschema.validate(common, gen.spec_schema())  # no version/name: only valid as a fragment


def test_mistyped_flag_suggests():
    result = run_mlc("validate", "x.mlc.yaml", "--fromat", "json")
    assert result.returncode == 2
    assert "did you mean `--format`?" in result.stderr
