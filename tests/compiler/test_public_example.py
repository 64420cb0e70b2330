"""examples/ctr_public end to end, as a user runs it: two public datasets exactly as distributed
(Criteo: upper-case headers, empty fields, no time column; Avazu: `hour` as YYMMDDHH text, ids
past int64) go through validate, compile, check-parity and `mlc run` (Spark features, TensorFlow
training, registry, a local Triton behind the gateway, a scored sample), then raw rows of each
file are sent to the gateway as requests, exactly as they are in the file."""

from __future__ import annotations

import csv
import json
import shutil
import urllib.error
import urllib.request

import pytest

from conftest import EXAMPLES, run_mlc

ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}
SPEC = "ctr_public.mlc.yaml"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("ctr_public")
    shutil.copytree(EXAMPLES / "ctr_public", root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".mlc"))
    return root


def raw_rows(path, columns: dict[str, str], numbers: set[str], count: int) -> list[dict]:
    """The first ``count`` rows of a CSV, as a client would send them: each spec input named in
    ``columns`` (spec name -> file header) with the file's text, as a JSON number for the inputs
    in ``numbers`` unless the field is empty (''), which the source reads as null."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))[:count]

    def value(name: str, text: str):
        if name not in numbers or text == "":
            return text
        return int(text) if text.lstrip("-").isdigit() else float(text)

    return [{name: value(name, row[header]) for name, header in columns.items()} for row in rows]


def post(url: str, document: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(document).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_validate_compile_and_check_parity(project, tmp_path):
    assert run_mlc("validate", SPEC, cwd=project).returncode == 0
    compiled = run_mlc("compile", SPEC, "-o", str(tmp_path / "build"), cwd=project)
    assert compiled.returncode == 0, compiled.stderr
    parity = run_mlc("check-parity", SPEC, "--rows", "200", cwd=project, env=ENV)
    assert parity.returncode == 0, parity.stdout + parity.stderr[-3000:]
    assert "criteo" in parity.stdout and "avazu" in parity.stdout, parity.stdout
    assert "MISMATCH" not in parity.stdout


def test_the_whole_pipeline_then_raw_rows_of_both_files_are_scored(project):
    try:
        result = run_mlc("run", SPEC, "--port", "0", cwd=project, env=ENV)
        assert result.returncode == 0, result.stderr[-4000:]
        assert "avazu_lr@main v1" in result.stderr and "criteo_deepfm@main v1" in result.stderr
        url = next(line.split()[-1] for line in result.stderr.splitlines() if line.strip().startswith("gateway "))
        criteo = {f"i{k}": f"I{k}" for k in range(1, 14)} | {f"c{k}": f"C{k}" for k in range(1, 27)}
        avazu = {n: n for n in ("hour", "banner_pos", "site_id", "site_category", "app_id", "device_model",
                                "device_conn_type")} | {"avazu_c14": "C14", "avazu_c17": "C17"}
        numbers = {f"i{k}" for k in range(1, 14)} | {"hour", "banner_pos", "device_conn_type", "avazu_c14",
                                                         "avazu_c17"}
        for model, data, columns in (("criteo_deepfm", "criteo_sample.csv", criteo),
                                     ("avazu_lr", "avazu_sample.csv", avazu)):
            items = raw_rows(project / "data" / data, columns, numbers, 5)
            status, response = post(url, {"model": model, "items": items})
            assert status == 200 and response["model"] == model and response["version"] == 1, response
            assert len(response["scores"]) == 5 and all(0.0 <= s <= 1.0 for s in response["scores"])
    finally:
        stopped = run_mlc("stop", SPEC, cwd=project)
    assert stopped.returncode == 0, stopped.stderr
