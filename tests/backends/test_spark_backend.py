"""The Spark backend: a safe, importable job script, a quoted submit script and a structurally
valid SparkApplication, byte-for-byte deterministic."""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES, REPO
from mlc.backends.spark import emit, spark_cores, spark_memory
from mlc.core.ir import IR
from mlc.compiler.pipeline import build

SPECS = {
    "ctr_criteo": EXAMPLES / "ctr_criteo" / "ctr.mlc.yaml",
    "delivery_eta": EXAMPLES / "delivery_eta" / "delivery.mlc.yaml",
}
ALLOWED_IMPORTS = {"sys", "os", "pathlib", "pyspark", "mlc"}
REQUIRED_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.codegen.hugeMethodLimit": "8000",
}
DNS_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
HOSTILE = "x'; rm -rf /; ' \"$(touch pwned)\" `id` \\ ${HOME} \n: {a: b} # - *ref"


def compiled(name: str) -> IR:
    result = build(str(SPECS[name]))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.ir


def hostile(ir: IR) -> IR:
    images = tuple((k, HOSTILE if k == "spark" else v) for k, v in ir.deployment.images)
    deployment = dataclasses.replace(ir.deployment, namespace=HOSTILE, images=images)
    sources = tuple(dataclasses.replace(s, location='"""\\ ; import os; os.system("x") #\x00')
                    for s in ir.sources)
    return dataclasses.replace(ir, deployment=deployment, sources=sources)


@pytest.fixture(params=sorted(SPECS))
def ir(request) -> IR:
    return compiled(request.param)


def imported_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            modules.add(node.module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"__import__", "eval", "exec", "compile", "open"}, ast.unparse(node)
    return modules


def assert_no_absolute_path(text: str) -> None:
    assert str(REPO) not in text and "/tmp" not in text and "/home" not in text
    for token in re.findall(r"[^\s'\"`(=]+", text):
        assert not re.match(r"/[\w.~-]", token), token


def spark_submit_words(script: str) -> list[str]:
    """The words of the (last, possibly multi-line) `exec spark-submit` command, as sh reads them."""
    command = script[script.index("exec spark-submit"):].replace("\\\n", " ")
    return shlex.split(command)


def conf_values(words: list[str]) -> dict[str, str]:
    return dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--conf")


# ------------------------------------------------------------------------ job script


def test_job_script_parses_and_imports_only_allowed_modules(ir):
    files = emit(ir)
    source = files[f"spark/{ir.name}_features.py"]
    tree = ast.parse(source)
    modules = imported_modules(source)
    assert {m.split(".")[0] for m in modules} <= ALLOWED_IMPORTS, modules
    assert "mlc.runtime.feature_job" in modules and "pyspark.sql" in modules
    assert_no_absolute_path(source)
    assert "../mldl.json" in source or 'BUILD_DIR / "mldl.json"' in source
    namespace: dict = {"__file__": f"build/spark/{ir.name}_features.py", "__name__": "job"}
    exec(compile(tree, "job", "exec"), namespace)  # module level runs no Spark and no mlc runtime
    assert namespace["SPARK_CONF"] == REQUIRED_CONF
    assert namespace["SPEC_NAME"] == ir.name
    docstring = ast.get_docstring(tree)
    for group in ir.feature_groups:
        assert group.name in docstring
    for src in ir.sources:
        assert src.name in docstring
    for option in ("--as-of", "--input", "--output", "--step"):
        assert option in docstring


def test_job_script_passes_argv_through(tmp_path, monkeypatch):
    """Run main() against stub `pyspark` and `mlc.runtime.feature_job` modules."""
    import sys
    import types

    ir = compiled("delivery_eta")
    build_dir = tmp_path / "build"
    (build_dir / "spark").mkdir(parents=True)
    script = build_dir / "spark" / "delivery_eta_features.py"
    script.write_text(emit(ir)["spark/delivery_eta_features.py"])

    calls, confs = [], {}

    class Builder:
        def appName(self, name):
            confs["app"] = name
            return self

        def config(self, key, value):
            confs[key] = value
            return self

        def getOrCreate(self):
            return types.SimpleNamespace(conf=types.SimpleNamespace(set=confs.__setitem__))

    pyspark, sql = types.ModuleType("pyspark"), types.ModuleType("pyspark.sql")
    sql.SparkSession = types.SimpleNamespace(builder=Builder())
    job = types.ModuleType("mlc.runtime.feature_job")
    job.main = lambda argv, *, spec_dir, mldl_path: calls.append((argv, spec_dir, mldl_path)) or 0
    monkeypatch.setitem(sys.modules, "pyspark", pyspark)
    monkeypatch.setitem(sys.modules, "pyspark.sql", sql)
    monkeypatch.setitem(sys.modules, "mlc.runtime.feature_job", job)
    monkeypatch.setattr(sys, "argv", [str(script), "--as-of", "2024-06-01T00:00:00Z", "--input", "orders=x.csv"])
    monkeypatch.chdir(tmp_path)                         # relative sources resolve from where it starts
    namespace = {"__file__": str(script), "__name__": "job"}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    assert namespace["main"]() == 0
    assert calls == [(["--as-of", "2024-06-01T00:00:00Z", "--input", "orders=x.csv"],
                      str(tmp_path), str((build_dir / "mldl.json").resolve()))]
    assert {k: confs[k] for k in REQUIRED_CONF} == REQUIRED_CONF
    assert confs["app"] == "delivery-eta-features"


def test_hostile_source_locations_stay_inside_the_docstring(ir):
    source = emit(hostile(ir))[f"spark/{ir.name}_features.py"]
    tree = ast.parse(source)
    assert {m.split(".")[0] for m in imported_modules(source)} <= ALLOWED_IMPORTS
    assert "os.system" in ast.get_docstring(tree)
    assert not any(isinstance(n, ast.Call) and "system" in ast.unparse(n) for n in ast.walk(tree))


# ------------------------------------------------------------------------ submit.sh


def test_submit_script_is_valid_sh_with_required_settings(ir, tmp_path):
    script = emit(ir)["spark/submit.sh"]
    path = tmp_path / "submit.sh"
    path.write_text(script)
    assert subprocess.run(["sh", "-n", str(path)], capture_output=True).returncode == 0
    assert script.startswith("#!/bin/sh\n") and "\nset -eu\n" in script
    words = spark_submit_words(script)
    assert words[:2] == ["exec", "spark-submit"]
    assert words[words.index("--master") + 1] == "$SPARK_MASTER"
    assert words[words.index("--deploy-mode") + 1] == "cluster"
    assert words[words.index("--py-files") + 1] == "$MLC_WHEEL"
    assert words[-2:] == [f"$MLC_BUILD_URI/spark/{ir.name}_features.py", "$@"]
    conf = conf_values(words)
    assert {k: conf[k] for k in REQUIRED_CONF} == REQUIRED_CONF
    assert conf["spark.kubernetes.container.image"] == dict(ir.deployment.images)["spark"]
    assert conf["spark.kubernetes.namespace"] == ir.deployment.namespace
    assert 'SPARK_MASTER="${SPARK_MASTER:-k8s://https://kubernetes.default.svc}"' in script


def test_hostile_image_and_namespace_cannot_break_quoting(ir):
    script = emit(hostile(ir))["spark/submit.sh"]
    conf = conf_values(spark_submit_words(script))
    assert conf["spark.kubernetes.container.image"] == HOSTILE
    assert conf["spark.kubernetes.namespace"] == HOSTILE


def test_submit_script_runs_with_exact_arguments(tmp_path):
    """Run submit.sh with a stub `spark-submit` that records its argv, hostile values included."""
    ir = hostile(compiled("ctr_criteo"))
    script = tmp_path / "submit.sh"
    script.write_text(emit(ir)["spark/submit.sh"])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "spark-submit"
    stub.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done > "$ARGS_OUT"\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "MLC_WHEEL": "dist/mlc.whl",
           "ARGS_OUT": str(tmp_path / "args"), "HOME": str(tmp_path)}
    run = subprocess.run(["sh", str(script), "--as-of", "2024-01-01", "--input", "impressions=a b.csv"],
                         env=env, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "pwned").exists()
    args = (tmp_path / "args").read_text().split("\0")[:-1]
    conf = conf_values(args)
    assert conf["spark.kubernetes.container.image"] == HOSTILE
    assert conf["spark.kubernetes.namespace"] == HOSTILE
    assert args[:2] == ["--master", "k8s://https://kubernetes.default.svc"]
    assert args[-5:] == ["local:///opt/mlc/build/spark/ctr_criteo_features.py",
                         "--as-of", "2024-01-01", "--input", "impressions=a b.csv"]
    # MLC_WHEEL is required
    del env["MLC_WHEEL"]
    missing = subprocess.run(["sh", str(script)], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert missing.returncode != 0 and "MLC_WHEEL" in missing.stderr


# ------------------------------------------------------------------------ SparkApplication


def check_spark_application(doc: dict) -> None:
    """A structural check of the sparkoperator.k8s.io/v1beta2 fields this backend emits."""
    assert doc["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
    assert doc["kind"] == "SparkApplication"
    meta = doc["metadata"]
    assert isinstance(meta["name"], str) and len(meta["name"]) <= 63 and DNS_1123.match(meta["name"])
    assert isinstance(meta["namespace"], str)
    for key, value in meta["labels"].items():
        assert isinstance(key, str) and isinstance(value, str) and len(value) <= 63
    spec = doc["spec"]
    assert spec["type"] in {"Java", "Scala", "Python", "R"} and spec["type"] == "Python"
    assert spec["pythonVersion"] == "3"
    assert spec["mode"] in {"cluster", "client"} and spec["mode"] == "cluster"
    assert isinstance(spec["image"], str) and spec["image"]
    assert spec["imagePullPolicy"] in {"Always", "IfNotPresent", "Never"}
    assert isinstance(spec["mainApplicationFile"], str) and spec["mainApplicationFile"].startswith("local:///")
    assert spec["sparkVersion"] == "3.5.1"
    assert all(isinstance(a, str) for a in spec["arguments"])
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in spec["sparkConf"].items())
    assert all(isinstance(p, str) for p in spec["deps"]["pyFiles"])
    assert spec["restartPolicy"]["type"] in {"Never", "Always", "OnFailure"}
    for role in ("driver", "executor"):
        pod = spec[role]
        assert type(pod["cores"]) is int and pod["cores"] >= 1
        assert isinstance(pod["memory"], str) and re.fullmatch(r"[0-9]+[kmgt]", pod["memory"])
        for key in ("coreRequest", "coreLimit"):
            assert key not in pod or isinstance(pod[key], str)
        assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 185}
        assert all(isinstance(v, str) for v in pod["labels"].values())
    assert spec["driver"]["serviceAccount"] == "spark"
    assert type(spec["executor"]["instances"]) is int


def test_spark_application_structure(ir):
    text = emit(ir)["k8s/spark-application.yaml"]
    doc = yaml.safe_load(text)
    check_spark_application(doc)
    assert doc["metadata"]["name"] == f"{ir.name.replace('_', '-')}-features"
    assert doc["metadata"]["namespace"] == ir.deployment.namespace
    assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "mlc"
    assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == ir.name.replace("_", "-")
    spec = doc["spec"]
    assert spec["image"] == dict(ir.deployment.images)["spark"]
    assert spec["mainApplicationFile"] == f"local:///opt/mlc/build/spark/{ir.name}_features.py"
    assert spec["arguments"] == ["--output", f"/data/mlc/{ir.name}"]
    assert spec["sparkConf"] == REQUIRED_CONF
    assert "{{" not in text and "}}" not in text
    assert list(doc) == ["apiVersion", "kind", "metadata", "spec"]


def test_spark_application_resources_come_from_the_spec():
    expected = {"ctr_criteo": (2, "2", "4", "4g"), "delivery_eta": (1, "1", "2", "2g")}
    for name, (cores, request, limit, memory) in expected.items():
        spec = yaml.safe_load(emit(compiled(name))["k8s/spark-application.yaml"])["spec"]
        for role in ("driver", "executor"):
            pod = spec[role]
            assert (pod["cores"], pod["coreRequest"], pod["coreLimit"], pod["memory"]) == (cores, request, limit, memory)


def test_hostile_strings_stay_yaml_values(ir):
    doc = yaml.safe_load(emit(hostile(ir))["k8s/spark-application.yaml"])
    check_spark_application(doc)
    assert doc["metadata"]["namespace"] == HOSTILE
    assert doc["spec"]["image"] == HOSTILE


@pytest.mark.parametrize("quantity, expected", [
    ("4Gi", "4g"), ("1Gi", "1g"), ("512Mi", "512m"), ("1536Mi", "1536m"), ("1.5Gi", "1536m"),
    ("2048Mi", "2g"), ("1Ti", "1024g"), ("1024Ki", "1m"), ("1G", "954m"), ("1000M", "954m"),
    ("1073741824", "1g"), ("100", "1m"), ("2000m", "1m"),
])
def test_memory_conversion(quantity, expected):
    assert spark_memory(quantity) == expected


@pytest.mark.parametrize("quantity, expected", [("500m", 1), ("1", 1), ("2", 2), ("1.5", 2), ("2500m", 3), ("100m", 1)])
def test_core_conversion(quantity, expected):
    assert spark_cores(quantity) == expected


def test_bad_quantity_is_an_error():
    with pytest.raises(ValueError):
        spark_memory("4 GB")


@pytest.mark.parametrize("quantity, memory, cores", [
    ("1Pi", "1048576g", 2**50), ("1e9", "954m", 10**9), ("1E3", "1m", 1000), ("+2Gi", "2g", 2**31),
    (".5Gi", "512m", 2**29), ("2.", "1m", 2), ("250u", "1m", 1), ("1E", "953674316407m", 10**18),
])
def test_every_quantity_the_spec_accepts_converts(quantity, memory, cores):
    """The Spark sizes come from the same parser as the spec check (E5027): what passes the check
    converts here (it used to raise for `1Pi`, `1e9` ...)."""
    from mlc.compiler.checks import quantity_value

    quantity_value(quantity)
    assert (spark_memory(quantity), spark_cores(quantity)) == (memory, cores)


# ------------------------------------------------------------------------ determinism


def test_emit_is_deterministic(ir):
    first, second = emit(ir), emit(compiled(ir.name))
    batch = ["spark/" + f"{ir.name}_features.py", "spark/submit.sh", "k8s/spark-application.yaml"]
    streaming = ["spark/" + f"{ir.name}_stream.py", "spark/submit_stream.sh", "k8s/spark-stream-application.yaml"]
    assert list(first) == batch + (streaming if any(s.stream for s in ir.sources) else [])
    assert {p: t.encode() for p, t in first.items()} == {p: t.encode() for p, t in second.items()}
    for text in first.values():
        assert text.endswith("\n") and not text.endswith("\n\n")


def test_table_sources_use_the_clusters_hive_catalog():
    """A spec reading a catalog table: the job enables Hive support; cluster submissions set
    MLC_CATALOG_DIR=external so the cluster's metastore is used (never a local Derby one)."""
    from k8s_validate import validate_manifest

    ir = compiled("delivery_eta")
    tables = dataclasses.replace(ir, sources=tuple(dataclasses.replace(s, kind="table", location=f"prod.{s.name}")
                                                   for s in ir.sources))
    files = emit(tables)
    job = files["spark/delivery_eta_features.py"]
    assert "USES_CATALOG = True" in job and "enableHiveSupport()" in job
    app = yaml.safe_load(files["k8s/spark-application.yaml"])
    assert app["spec"]["driver"]["env"] == [{"name": "MLC_CATALOG_DIR", "value": "external"}]
    assert "env" not in app["spec"]["executor"]
    assert validate_manifest(app) == []
    assert "--conf spark.kubernetes.driverEnv.MLC_CATALOG_DIR=external" in files["spark/submit.sh"]
    plain = emit(ir)
    assert "USES_CATALOG = False" in plain["spark/delivery_eta_features.py"]
    assert "MLC_CATALOG_DIR" not in plain["k8s/spark-application.yaml"] + plain["spark/submit.sh"]
