"""`include:` and `environments:`: composing one located spec from several files and overlays."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from mlc.cli.main import main
from mlc.compiler.pipeline import build

HEAD = "version: 1\nname: demo\n"

DATA = """\
entities:
  rider: {keys: [rider_id]}
sources:
  orders:
    kind: csv
    path: data/orders.csv
    event_time: ts
    columns: {ts: timestamp, rider_id: int64, eta: float64, distance_km: float64, city: string, status: string}
feature_groups:
  rider_activity:
    entity: rider
    source: orders
    windows: [1h, 1d]
    filter: "status == 'delivered'"
    features:
      deliveries: count()
      avg_eta: avg(eta)
"""

REST = """\
preprocess:
  inputs:
    rider_id: {dtype: int64}
    distance_km: {dtype: float64, default: 0.0}
    city: {dtype: string, default: unknown}
  features:
    log_dist: log1p(distance_km)
    dist_z: standardize(log_dist)
    load: "coalesce(rider_activity.deliveries_1h, 0)"
    city_id: hash_bucket(city, 100)
models:
  eta:
    type: dnn
    task: regression
    label: eta
    inputs: {dense: [dist_z, load], sparse: [city_id]}
    training: {source: orders, epochs: 2, batch_size: 64}
experiments:
  layers:
    ranking:
      experiments:
        e1:
          unit: rider_id
          traffic: 30
          targeting: "city in ['beijing']"
          variants: {a: {model: eta, weight: 50}, b: {model: eta, weight: 50}}
"""


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A temp folder that is also the cwd, so diagnostics show relative paths."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(root: Path, name: str, text: str) -> str:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def diags(result) -> list[tuple]:
    return [(d.code, d.span.file if d.span else None, d.span.start.line if d.span else None,
             d.span.start.col if d.span else None, d.message, d.hint) for d in result.diagnostics]


def split_spec(root: Path, head_extra: str = "") -> str:
    write(root, "parts/data.yaml", DATA)
    write(root, "parts/rest.yaml", REST)
    return write(root, "app.mlc.yaml", HEAD + "include: [parts/data.yaml, parts/rest.yaml]\n" + head_extra)


# ------------------------------------------------------------------ include


def test_split_spec_equals_single_file(work):
    split = build(split_spec(work))
    single = build(write(work, "single.mlc.yaml", HEAD + DATA + REST))
    assert split.diagnostics == [] and single.diagnostics == []
    assert split.ok and single.ok
    assert split.files == ["app.mlc.yaml", "parts/data.yaml", "parts/rest.yaml"]
    assert split.spec_sha256() == single.spec_sha256()


def test_nested_include_is_relative_to_including_file(work):
    write(work, "parts/deep/data.yaml", DATA)
    write(work, "parts/rest.yaml", "include: [deep/data.yaml]\n" + REST)
    result = build(write(work, "app.mlc.yaml", HEAD + "include: [parts/rest.yaml]\n"))
    assert result.diagnostics == [] and result.ok
    assert result.files == ["app.mlc.yaml", "parts/rest.yaml", "parts/deep/data.yaml"]


def test_include_as_single_string(work):
    write(work, "data.yaml", DATA + REST)
    result = build(write(work, "app.mlc.yaml", HEAD + "include: data.yaml\n"))
    assert result.ok, result.diagnostics


def test_errors_in_included_file_point_into_it(work):
    write(work, "parts/data.yaml", DATA.replace("avg(eta)", "avg(etaa)"))
    write(work, "parts/rest.yaml", REST)
    result = build(write(work, "app.mlc.yaml", HEAD + "include: [parts/data.yaml, parts/rest.yaml]\n"))
    assert diags(result) == [("E4001", "parts/data.yaml", 17, 20, "unknown name `etaa`", "did you mean `eta`?")]


def test_include_cycle(work):
    write(work, "a.yaml", "include: [sub/b.yaml]\n")
    write(work, "sub/b.yaml", "include: [../a.yaml]\n")
    result = build(write(work, "app.mlc.yaml", HEAD + "include: [a.yaml]\n"))
    assert diags(result) == [("E1103", "sub/b.yaml", 1, 11,
                              "include cycle: app.mlc.yaml -> a.yaml -> sub/b.yaml -> a.yaml", None)]
    assert result.failed_stage == "load" and not result.ok


def test_self_include_cycle(work):
    result = build(write(work, "app.mlc.yaml", HEAD + "include:\n  - app.mlc.yaml\n"))
    assert diags(result) == [("E1103", "app.mlc.yaml", 4, 5, "include cycle: app.mlc.yaml -> app.mlc.yaml", None)]


def test_missing_include_points_at_the_item(work):
    write(work, "parts/data.yaml", DATA)
    result = build(write(work, "app.mlc.yaml", HEAD + "include:\n  - parts/data.yaml\n  - parts/nope.yaml\n"))
    assert diags(result) == [("E1006", "app.mlc.yaml", 5, 5, "file not found: parts/nope.yaml",
                              "check the path; include paths are relative to the including file")]


def test_missing_top_level_file_has_no_span(work):
    result = build(str(work / "nope.mlc.yaml"))
    assert diags(result) == [("E1006", None, None, None, "file not found: nope.mlc.yaml",
                              "check the path; include paths are relative to the including file")]
    assert result.failed_stage == "load"


@pytest.mark.parametrize("include", ["[1]", "['']", "[[a.yaml]]", "{a: b}"])
def test_include_must_be_list_of_paths(work, include):
    result = build(write(work, "app.mlc.yaml", HEAD + DATA + REST + f"include: {include}\n"))
    assert [(c, m) for c, _, _, _, m, _ in diags(result)] == [("E2004", "`include` must be a list of file paths")]
    assert diags(result)[0][2] == (HEAD + DATA + REST).count("\n") + 1


def test_conflicting_definitions_name_both_places(work):
    write(work, "parts/data.yaml", DATA)
    write(work, "parts/other.yaml", "sources:\n  orders:\n    kind: csv\n    path: data/other.csv\n")
    write(work, "parts/rest.yaml", REST)
    result = build(write(work, "app.mlc.yaml",
                         HEAD + "include: [parts/data.yaml, parts/other.yaml, parts/rest.yaml]\n"))
    assert diags(result) == [(
        "E1102", "parts/other.yaml", 4, 5, "`path` is defined differently in two files",
        "also defined at parts/data.yaml:6:5; included files may add to a spec but not override it "
        "(use `environments:` for overrides)")]


def test_conflict_between_include_and_top_level_file(work):
    write(work, "parts/data.yaml", "name: other\n" + DATA)
    write(work, "parts/rest.yaml", REST)
    result = build(write(work, "app.mlc.yaml", HEAD + "include: [parts/data.yaml, parts/rest.yaml]\n"))
    [(code, file, line, col, message, hint)] = diags(result)
    assert (code, file, line, col, message) == ("E1102", "app.mlc.yaml", 2, 1, "`name` is defined differently in two files")
    assert hint.startswith("also defined at parts/data.yaml:1:1;")


def test_identical_values_in_two_files_are_allowed(work):
    write(work, "parts/data.yaml", "name: demo\n" + DATA)
    write(work, "parts/rest.yaml", REST + "entities:\n  rider: {keys: [rider_id]}\n")
    result = build(write(work, "app.mlc.yaml", HEAD + "include: [parts/data.yaml, parts/rest.yaml]\n"))
    assert result.diagnostics == [] and result.ok


def test_mappings_merge_across_includes(work):
    write(work, "parts/data.yaml", DATA)
    write(work, "parts/more.yaml", "sources:\n  clicks: {kind: parquet, path: c/, event_time: ts}\n")
    write(work, "parts/rest.yaml", REST)
    result = build(write(work, "app.mlc.yaml", HEAD + "include: [parts/data.yaml, parts/more.yaml, parts/rest.yaml]\n"))
    assert result.ok, result.diagnostics
    assert sorted(result.spec.sources) == ["clicks", "orders"]


def test_environments_in_included_file(work):
    write(work, "parts/data.yaml", DATA + "environments:\n  prod: {}\n")
    write(work, "parts/rest.yaml", REST)
    result = build(write(work, "app.mlc.yaml", HEAD + "include: [parts/data.yaml, parts/rest.yaml]\n"))
    line = DATA.count("\n") + 1
    assert diags(result) == [("E1104", "parts/data.yaml", line, 1,
                              "`environments` may only appear in the top-level spec", None)]


def test_syntax_error_in_included_file(work):
    write(work, "parts/data.yaml", "sources:\n  orders: [\n")
    result = build(write(work, "app.mlc.yaml", HEAD + "include: [parts/data.yaml]\n"))
    [(code, file, line, col, message, hint)] = diags(result)
    assert (code, file, line) == ("E1001", "parts/data.yaml", 3)


# -------------------------------------------------------------- environments


ENVS = """\
environments:
  prod:
    models:
      eta:
        training: {epochs: 5}
    feature_groups:
      rider_activity:
        windows: [1h, 7d]
    deployment:
      replicas: 3
    name: demo_prod
  dev:
    deployment: {namespace: dev}
"""


def test_env_overlay_merges_maps_and_replaces_lists_and_scalars(work):
    path = write(work, "app.mlc.yaml", HEAD + DATA + REST + ENVS)
    base = build(path)
    assert base.ok and base.environments == ["dev", "prod"]
    prod = build(path, "prod")
    assert prod.ok, prod.diagnostics
    training = prod.spec.models["eta"].training
    assert (training.epochs, training.batch_size) == (5, 64)  # merged, not replaced
    assert prod.spec.models["eta"].label == "eta"
    assert prod.spec.feature_groups["rider_activity"].windows == ["1h", "7d"]  # list replaced
    assert prod.spec.feature_groups["rider_activity"].features == {"deliveries": "count()", "avg_eta": "avg(eta)"}
    assert prod.spec.deployment.replicas == 3 and prod.spec.name == "demo_prod"
    assert base.spec.deployment.replicas == 1 and base.spec.name == "demo"
    assert base.spec.feature_groups["rider_activity"].windows == ["1h", "1d"]
    assert base.spec_sha256() != prod.spec_sha256()


def test_env_overlay_on_top_of_includes(work):
    path = split_spec(work, "environments:\n  prod: {models: {eta: {training: {epochs: 9}}}}\n")
    prod = build(path, "prod")
    assert prod.ok and prod.spec.models["eta"].training.epochs == 9


def test_unknown_environment_did_you_mean(work):
    result = build(write(work, "app.mlc.yaml", HEAD + DATA + REST + ENVS), "prd")
    assert diags(result) == [("E1105", None, None, None, "unknown environment `prd`", "did you mean `prod`?")]
    assert not result.ok


def test_unknown_environment_without_environments(work):
    result = build(write(work, "app.mlc.yaml", HEAD + DATA + REST), "prod")
    assert diags(result) == [("E1105", None, None, None, "unknown environment `prod`",
                              "the spec declares no `environments:`")]


def test_unknown_environment_lists_valid_ones(work):
    result = build(write(work, "app.mlc.yaml", HEAD + DATA + REST + ENVS), "staging")
    assert diags(result)[0][5] == "valid environments: `dev`, `prod`"


@pytest.mark.parametrize("envs, line, message", [
    ("environments: [prod]\n", 0, "`environments` must be a mapping of name -> overlay"),
    ("environments:\n  prod: 5\n", 1, "environment `prod` must be a mapping (a partial spec)"),
])
def test_malformed_environments(work, envs, line, message):
    text = HEAD + DATA + REST + envs
    result = build(write(work, "app.mlc.yaml", text))
    first = (HEAD + DATA + REST).count("\n") + 1
    assert [(c, l, m) for c, _, l, _, m, _ in diags(result)] == [("E2004", first + line, message)]


def test_error_in_overlay_points_into_the_overlay(work):
    envs = "environments:\n  prod:\n    models:\n      eta:\n        training: {epochs: \"x\"}\n"
    text = HEAD + DATA + REST + envs
    path = write(work, "app.mlc.yaml", text)
    assert build(path).ok
    result = build(path, "prod")
    line = text.count("\n")  # the last line
    assert diags(result) == [("E2004", "app.mlc.yaml", line, 28,
                              "`models.eta.training.epochs` must be an integer, got string `x`", None)]


def test_expression_error_in_overlay_points_into_the_overlay(work):
    envs = "environments:\n  prod:\n    preprocess:\n      features:\n        log_dist: \"log1p(distance_kn)\"\n"
    text = HEAD + DATA + REST + envs
    result = build(write(work, "app.mlc.yaml", text), "prod")
    line = text.count("\n")
    assert diags(result) == [("E4001", "app.mlc.yaml", line, 26, "unknown name `distance_kn`", "did you mean `distance_km`?")]


def test_validate_checks_base_and_every_environment(work, capsys):
    envs = ("environments:\n  dev:\n    deployment: {replicas: 2}\n"
            "  prod:\n    deployment: {replicas: 0}\n")
    text = HEAD + DATA + REST + envs
    write(work, "app.mlc.yaml", text)
    assert main(["validate", "app.mlc.yaml", "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    line = text.count("\n")
    assert [(d["code"], d["file"], d["line"], d["col"]) for d in out["diagnostics"]] == [("E2007", "app.mlc.yaml", line, 28)]
    assert "deployment.replicas" in out["diagnostics"][0]["message"]
    # only the dev overlay (and the base): fine
    assert main(["validate", "app.mlc.yaml", "--env", "dev"]) == 0
    assert main(["validate", "app.mlc.yaml", "--env", "prod", "--format", "json"]) == 1


def test_validate_text_output_for_environment_error(work, capsys):
    envs = "environments:\n  prod:\n    deployment: {replicas: 0}\n"
    write(work, "app.mlc.yaml", HEAD + DATA + REST + envs)
    assert main(["validate", "app.mlc.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("app.mlc.yaml:")
    assert "    deployment: {replicas: 0}\n" in err
    assert err.endswith("1 error\n")


def test_validate_unknown_env_on_command_line(work, capsys):
    write(work, "app.mlc.yaml", HEAD + DATA + REST + ENVS)
    assert main(["validate", "app.mlc.yaml", "--env", "prodd"]) == 1
    err = capsys.readouterr().err
    assert err == "error[E1105]: unknown environment `prodd`\n  help: did you mean `prod`?\n1 error\n"


def test_validate_names_the_environment_of_an_error_in_base_lines(work, capsys):
    # BUG: an error that only exists under `--env prod` but sits on a base line (the overlay
    # removed the 1h window that a base expression uses) is reported without saying that it
    # comes from environment `prod`; the user sees an error on a line that is valid on its own.
    envs = "environments:\n  prod:\n    feature_groups:\n      rider_activity:\n        windows: [1d, 7d]\n"
    write(work, "app.mlc.yaml", HEAD + DATA + REST + envs)
    assert main(["validate", "app.mlc.yaml", "--format", "json"]) == 1
    [item] = json.loads(capsys.readouterr().out)["diagnostics"]
    assert (item["code"], item["line"]) == ("E4001", (HEAD + DATA).count("\n") + 9)
    said = " ".join([item["message"], item.get("hint", "")] + item.get("notes", []))
    assert "prod" in said


# ------------------------------------------------------- hardening: what is read


SECRET = "password: hunter2-secret\n"


def rendered(result) -> str:
    from mlc.core.diagnostics import render_github, render_json, render_text

    return (render_text(result.diagnostics, result.sources) + render_json(result.diagnostics)
            + render_github(result.diagnostics))


def assert_not_read(result, secret_path: Path) -> None:
    assert "hunter2" not in rendered(result)
    assert all("hunter2" not in (result.sources.text(f) or "") for f in result.files)
    assert not any(str(secret_path.name) in f for f in result.files)


@pytest.fixture
def project(work):
    """``work/outside/secret.yaml`` and the project folder ``work/app``."""
    write(work, "outside/secret.yaml", SECRET)
    (work / "app").mkdir()
    return work / "app"


@pytest.mark.parametrize("include", ["../outside/secret.yaml", "parts/../../outside/secret.yaml", "ABSOLUTE"])
def test_include_outside_the_project_is_refused_unread(project, include):
    # BUG: `include:` read any file of the machine, and diagnostics printed its lines
    secret = project.parent / "outside" / "secret.yaml"
    include = str(secret) if include == "ABSOLUTE" else include
    result = build(write(project, "app.mlc.yaml", HEAD + f"include:\n  - {include}\n"))
    assert [(c, f, l, col) for c, f, l, col, _, _ in diags(result)] == [("E1106", "app/app.mlc.yaml", 4, 5)]
    [(_, _, _, _, message, hint)] = diags(result)
    assert message == f"include `{include}` is outside the project folder"
    assert "folder of the top-level spec" in hint and "symlinks" in hint
    assert_not_read(result, secret)


def test_symlink_leading_out_of_the_project_is_refused(project):
    secret = project.parent / "outside" / "secret.yaml"
    (project / "parts").mkdir()
    (project / "parts" / "link.yaml").symlink_to(secret)
    (project / "shared").symlink_to(project.parent / "outside", target_is_directory=True)
    result = build(write(project, "app.mlc.yaml", HEAD + "include: [parts/link.yaml, shared/secret.yaml]\n"))
    assert [(c, l, col) for c, _, l, col, _, _ in diags(result)] == [("E1106", 3, 11), ("E1106", 3, 28)]
    assert_not_read(result, secret)


def test_symlink_inside_the_project_is_fine(project):
    write(project, "real/data.yaml", DATA + REST)
    (project / "parts").symlink_to(project / "real", target_is_directory=True)
    result = build(write(project, "app.mlc.yaml", HEAD + "include: [parts/data.yaml]\n"))
    assert result.ok, result.diagnostics


def test_project_folder_is_the_top_level_specs_folder(project):
    # a part in a subfolder may include its siblings and go up to the top-level folder, no further
    write(project, "parts/data.yaml", "include: [../more/rest.yaml]\n" + DATA)
    write(project, "more/rest.yaml", "include: [../../outside/secret.yaml]\n" + REST)
    result = build(write(project, "app.mlc.yaml", HEAD + "include: [parts/data.yaml]\n"))
    assert [(c, f, l) for c, f, l, _, _, _ in diags(result)] == [("E1106", "app/more/rest.yaml", 1)]


def build_isolated(spec: Path, timeout: float = 120) -> list:
    """`build` in a fresh interpreter (a hang fails the test, not the run): the diagnostics
    as (code, file, line, col, message) and the files read."""
    import subprocess
    import sys

    code = ("import json, sys\n"
            "from mlc.compiler.pipeline import build\n"
            "r = build(sys.argv[1])\n"
            "print(json.dumps([[[d.code, d.span and d.span.file, d.span and d.span.start.line, "
            "d.span and d.span.start.col, d.message] for d in r.diagnostics], r.files]))\n")
    done = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True,
                          timeout=timeout, cwd=spec.parent)
    assert done.returncode == 0, done.stderr[-1500:]
    return json.loads(done.stdout)


def test_fifo_include_is_refused_without_blocking(work):
    # BUG: open() of a FIFO blocks until a writer comes: the compile hung
    import os

    os.mkfifo(work / "pipe.yaml")
    diagnostics, files = build_isolated(Path(write(work, "app.mlc.yaml", HEAD + "include: [pipe.yaml]\n")))
    assert diagnostics == [["E1006", "app.mlc.yaml", 3, 11,
                            "cannot read pipe.yaml: it is not a regular file (a device, FIFO or socket)"]]
    assert files == ["app.mlc.yaml"]


@pytest.mark.parametrize("kind", ["fifo", "folder", "dev_zero"])
def test_top_level_spec_that_is_not_a_regular_file(work, kind):
    import os

    path = work / "app.mlc.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero")
        path.symlink_to("/dev/zero")
    diagnostics, files = build_isolated(path)
    expected = "it is a folder" if kind == "folder" else "it is not a regular file (a device, FIFO or socket)"
    assert diagnostics == [["E1006", None, None, None, f"cannot read app.mlc.yaml: {expected}"]]
    assert files == []


def test_include_path_with_a_nul_character(work):
    result = build(write(work, "app.mlc.yaml", HEAD + 'include: ["a\\0b.yaml"]\n'))
    assert [(c, l, col, m) for c, _, l, col, m, _ in diags(result)] == [
        ("E1006", 3, 11, "an include path cannot contain a NUL character")]


def test_include_of_a_folder(work):
    (work / "parts").mkdir()
    result = build(write(work, "app.mlc.yaml", HEAD + "include: [parts]\n"))
    assert [(c, l, col, m) for c, _, l, col, m, _ in diags(result)] == [
        ("E1006", 3, 11, "cannot read parts: it is a folder")]


def test_huge_include_is_refused_unread(work):
    with open(work / "huge.yaml", "wb") as handle:  # sparse: nothing is written to the disk
        handle.truncate(5 * 1024 * 1024)
    result = build(write(work, "app.mlc.yaml", HEAD + "include: [huge.yaml]\n"))
    assert [(c, l, col, m) for c, _, l, col, m, _ in diags(result)] == [
        ("E1107", 3, 11, "huge.yaml is larger than 4 MiB")]
    assert result.files == ["app.mlc.yaml"]


def test_total_size_of_the_spec_is_bounded(work, monkeypatch):
    from mlc.schemas import compose as compose_module

    monkeypatch.setattr(compose_module, "MAX_TOTAL_BYTES", len(HEAD) + 200)
    write(work, "a.yaml", "# " + "x" * 150 + "\n")
    write(work, "b.yaml", "# " + "y" * 150 + "\n")
    result = build(write(work, "app.mlc.yaml", HEAD + "include: [a.yaml, b.yaml]\n"))
    [(code, _, line, col, message, _)] = diags(result)
    assert (code, line, col) == ("E1107", 3, 19)
    assert message == "the spec's files are larger than 0 MiB together (reading b.yaml)"


def test_diamond_includes_are_read_once(work):
    # BUG: each file including the next twice made 2^N loads: the compile hung
    depth = 40
    for i in range(depth):
        write(work, f"p{i}.yaml", f"include: [p{i + 1}.yaml, p{i + 1}.yaml]\nsources: {{}}\n")
    write(work, f"p{depth}.yaml", DATA + REST)
    diagnostics, files = build_isolated(Path(write(work, "app.mlc.yaml", HEAD + "include: [p0.yaml, p0.yaml]\n")))
    assert diagnostics == []
    assert files == ["app.mlc.yaml"] + [f"p{i}.yaml" for i in range(depth + 1)]


def test_file_included_from_two_parts_is_combined_once(work):
    write(work, "parts/common.yaml", DATA)
    write(work, "parts/a.yaml", "include: [common.yaml]\n" + REST)
    write(work, "parts/b.yaml", "include: [common.yaml]\nentities:\n  rider: {keys: [rider_id]}\n")
    result = build(write(work, "app.mlc.yaml", HEAD + "include: [parts/a.yaml, parts/b.yaml]\n"))
    assert result.ok and result.diagnostics == []
    assert result.files == ["app.mlc.yaml", "parts/a.yaml", "parts/common.yaml", "parts/b.yaml"]


def test_symlinked_folder_cannot_hide_a_cycle(work):
    # BUG: parts/loop -> .. made every round a new path (parts/loop/parts/loop/...): no cycle found
    write(work, "parts/a.yaml", "include: [loop/parts/a.yaml]\n")
    (work / "parts" / "loop").symlink_to(work, target_is_directory=True)
    diagnostics, files = build_isolated(Path(write(work, "app.mlc.yaml", HEAD + "include: [parts/a.yaml]\n")))
    assert diagnostics == [["E1103", "parts/a.yaml", 1, 11,
                            "include cycle: app.mlc.yaml -> parts/a.yaml -> parts/loop/parts/a.yaml"]]
    assert files == ["app.mlc.yaml", "parts/a.yaml"]


# ------------------------------------------------------------- hardening: encodings


def test_non_utf8_spec_is_located_at_the_first_bad_byte(work):
    # BUG: "app.mlc.yaml is not UTF-8 text" without a position
    (work / "app.mlc.yaml").write_bytes(b"version: 1\nname: d\xe9mo\n")
    result = build(str(work / "app.mlc.yaml"))
    assert diags(result) == [("E1006", "app.mlc.yaml", 2, 8, "app.mlc.yaml is not UTF-8 text: invalid byte 0xe9",
                              "save the file as UTF-8")]
    from mlc.core.diagnostics import render_text

    assert render_text(result.diagnostics, result.sources).splitlines()[1:3] == [
        "   2 | name: d\ufffdmo", "     |        ^"]


def test_non_utf8_include_is_located_in_the_included_file(work):
    (work / "parts").mkdir()
    (work / "parts" / "data.yaml").write_bytes(DATA.encode() + "# caf\u00e9 \xff\n".encode("latin-1"))
    result = build(write(work, "app.mlc.yaml", HEAD + "include: [parts/data.yaml]\n"))
    line = DATA.count("\n") + 1
    assert [(c, f, l, col) for c, f, l, col, _, _ in diags(result)] == [("E1006", "parts/data.yaml", line, 6)]


def test_bom_is_ignored_and_positions_stay_right(work):
    (work / "app.mlc.yaml").write_bytes(b"\xef\xbb\xbf" + (HEAD + DATA + REST).encode())
    assert build(str(work / "app.mlc.yaml")).ok
    (work / "app.mlc.yaml").write_bytes(b"\xef\xbb\xbfbogus: 1\n" + (HEAD + DATA + REST).encode())
    result = build(str(work / "app.mlc.yaml"))
    assert [(c, l, col) for c, _, l, col, _, _ in diags(result)] == [("E2002", 1, 1)]


def test_nul_in_a_spec_is_a_located_error(work):
    (work / "app.mlc.yaml").write_bytes((HEAD + "description: a\0b\n").encode())
    result = build(str(work / "app.mlc.yaml"))
    assert [(c, f, l, col) for c, f, l, col, _, _ in diags(result)] == [("E1001", "app.mlc.yaml", 3, 15)]
    from mlc.core.diagnostics import render_text

    text = render_text(result.diagnostics, result.sources)
    assert "\0" not in text and "description: a\\x00b" in text
