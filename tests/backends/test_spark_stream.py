"""The Spark backend's streaming job: a thin wrapper over the stable `mlc.runtime.stream_job`, a
quoted submit script and a long-running SparkApplication, written only for specs with a stream
source; hostile spec strings never break the generated Python, shell or YAML."""

from __future__ import annotations

import ast
import dataclasses
import os
import shlex
import stat
import subprocess
import sys
import types

import pytest
import yaml

from conftest import EXAMPLES
from k8s_validate import validate_manifest
from mlc.backends.k8s_layout import DATA_CLAIM, DATA_VOLUME, OUTPUT_ROOT
from mlc.backends.serving_k8s.emit import redis_secret
from mlc.backends.spark import emit
from mlc.backends.spark.emit import KAFKA_PACKAGE, SPARK_VERSION
from mlc.compiler.pipeline import build
from mlc.core.ir import IR

JOB, SUBMIT, APP = "spark/delivery_eta_stream.py", "spark/submit_stream.sh", "k8s/spark-stream-application.yaml"
BATCH = ("spark/delivery_eta_features.py", "spark/submit.sh", "k8s/spark-application.yaml")
ALLOWED_IMPORTS = {"os", "sys", "pathlib", "pyspark.sql", "mlc.runtime.stream_job"}
HOSTILE = "t'; rm -rf /; ' \"\"\" \"$(touch pwned)\" `id` \\ ${HOME}\n: {a: b} # - *ref\x00\u2028'''"
HOSTILE_WORD = HOSTILE.replace("\x00", "")   # a NUL cannot be in an argv word at all
STATE_DIR = f"{OUTPUT_ROOT}/stream/delivery_eta"


def compiled(spec: str = "delivery_eta/delivery.mlc.yaml") -> IR:
    result = build(str(EXAMPLES / spec))
    assert result.ok, [d.message for d in result.diagnostics]
    return result.ir


@pytest.fixture(scope="module")
def ir() -> IR:
    ir = compiled()
    assert [s.name for s in ir.sources if s.stream] == ["orders"]    # the example this file relies on
    return ir


def with_streams(ir: IR, **changes) -> IR:
    """``ir`` with every stream source's stream changed (``stream=None`` drops it)."""
    def change(source):
        if source.stream is None:
            return source
        if "stream" in changes:
            return dataclasses.replace(source, stream=changes["stream"])
        return dataclasses.replace(source, stream=dataclasses.replace(source.stream, **changes))

    return dataclasses.replace(ir, sources=tuple(change(s) for s in ir.sources))


def kafka(ir: IR, topic: str = "orders.v1", servers: str = "kafka-0:9092") -> IR:
    return with_streams(ir, kind="kafka", location=topic,
                        options=(("bootstrap_servers", servers), ("starting_offsets", "latest")))


def hostile(ir: IR) -> IR:
    images = tuple((k, HOSTILE_WORD if k == "spark" else v) for k, v in ir.deployment.images)
    deployment = dataclasses.replace(ir.deployment, namespace=HOSTILE_WORD, images=images)
    return dataclasses.replace(ir, deployment=deployment)


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


def spark_submit_words(script: str) -> list[str]:
    return shlex.split(script[script.index("exec spark-submit"):].replace("\\\n", " "))


def conf_values(words: list[str]) -> dict[str, str]:
    return dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--conf")


def run_submit(script_text: str, tmp_path, *args: str) -> list[str]:
    """Run the script with a stub `spark-submit` that records its argv."""
    script = tmp_path / "submit_stream.sh"
    script.write_text(script_text)
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "spark-submit"
    stub.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done > "$ARGS_OUT"\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "MLC_WHEEL": "dist/mlc.whl",
           "ARGS_OUT": str(tmp_path / "args"), "HOME": str(tmp_path)}
    run = subprocess.run(["sh", str(script), *args], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "pwned").exists()
    return (tmp_path / "args").read_text().split("\0")[:-1]


# ------------------------------------------------------------------------ which files


def test_stream_spec_gets_the_stream_files_after_the_batch_ones(ir):
    assert list(emit(ir)) == [*BATCH, JOB, SUBMIT, APP]


def test_spec_without_streams_emits_none_of_the_stream_files(ir):
    ctr = compiled("ctr_criteo/ctr.mlc.yaml")
    assert not any(s.stream for s in ctr.sources)
    assert list(emit(ctr)) == ["spark/ctr_criteo_features.py", *BATCH[1:]]
    batch_only = emit(with_streams(ir, stream=None))
    assert list(batch_only) == list(BATCH)
    # the stream block changes nothing of the batch outputs
    assert {path: emit(ir)[path] for path in BATCH} == batch_only


# ------------------------------------------------------------------------ the job wrapper


def test_stream_job_parses_and_imports_only_the_stable_path(ir):
    source = emit(ir)[JOB]
    tree = ast.parse(source)
    modules = imported_modules(source)
    assert modules <= ALLOWED_IMPORTS, modules
    assert "mlc.runtime.stream_job" in modules
    assert not any(m.startswith("mlc.") and m != "mlc.runtime.stream_job" for m in modules)
    namespace: dict = {"__file__": "build/spark/delivery_eta_stream.py", "__name__": "job"}
    exec(compile(tree, "job", "exec"), namespace)  # module level runs no Spark and no mlc runtime
    assert namespace["SPEC_NAME"] == "delivery_eta" and namespace["APP_NAME"] == "delivery-eta-stream"
    assert namespace["PACKAGES"] == []
    assert namespace["SPARK_CONF"]["spark.sql.session.timeZone"] == "UTC"


def test_stream_job_docstring_lists_stream_sources_and_realtime_groups(ir):
    doc = ast.get_docstring(ast.parse(emit(ir)[JOB]))
    assert "orders (files, json): folder streams/orders" in doc
    realtime = [g for g in ir.feature_groups if g.realtime]
    assert realtime
    for group in ir.feature_groups:
        assert (f"    {group.name}: entity" in doc) == group.realtime, group.name
    for window, seconds in realtime[0].tiles:
        assert f"{window} (tile {seconds}s)" in doc
    for option in ("--store", "--namespace", "--state-dir", "--source", "--input", "--data-root", "--available-now"):
        assert option in doc
    assert "deliveries" not in doc.split("Real-time")[0]     # a batch-only source is no stream source


def test_stream_job_passes_argv_through(ir, tmp_path, monkeypatch):
    """main() against stub `pyspark` and `mlc.runtime.stream_job` modules."""
    build_dir = tmp_path / "build"
    (build_dir / "spark").mkdir(parents=True)
    script = build_dir / "spark" / "delivery_eta_stream.py"
    script.write_text(emit(kafka(ir))[JOB])
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

    sql = types.ModuleType("pyspark.sql")
    sql.SparkSession = types.SimpleNamespace(builder=Builder())
    job = types.ModuleType("mlc.runtime.stream_job")
    job.main = lambda argv, *, spec_dir, mldl_path: calls.append((argv, spec_dir, mldl_path)) or 0
    monkeypatch.setitem(sys.modules, "pyspark", types.ModuleType("pyspark"))
    monkeypatch.setitem(sys.modules, "pyspark.sql", sql)
    monkeypatch.setitem(sys.modules, "mlc.runtime.stream_job", job)
    argv = ["--state-dir", "st", "--source", "orders", "--available-now"]
    monkeypatch.setattr(sys, "argv", [str(script), *argv])
    monkeypatch.chdir(tmp_path)
    namespace = {"__file__": str(script), "__name__": "job"}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    assert namespace["main"]() == 0
    assert calls == [(argv, str(tmp_path), str((build_dir / "mldl.json").resolve()))]
    assert confs["app"] == "delivery-eta-stream"
    assert confs["spark.jars.packages"] == KAFKA_PACKAGE


# ------------------------------------------------------------------------ Kafka


def test_kafka_streams_carry_the_connector_package(ir, tmp_path):
    assert KAFKA_PACKAGE == f"org.apache.spark:spark-sql-kafka-0-10_2.12:{SPARK_VERSION}"
    files = emit(kafka(ir))
    words = spark_submit_words(files[SUBMIT])
    assert words[words.index("--packages") + 1] == KAFKA_PACKAGE
    app = yaml.safe_load(files[APP])
    assert app["spec"]["deps"]["packages"] == [KAFKA_PACKAGE]
    assert validate_manifest(app) == []
    namespace: dict = {"__file__": "build/spark/x.py", "__name__": "job"}
    exec(compile(files[JOB], "job", "exec"), namespace)
    assert namespace["PACKAGES"] == [KAFKA_PACKAGE]
    assert "orders (kafka, json): topic orders.v1" in ast.get_docstring(ast.parse(files[JOB]))


def test_files_only_streams_carry_no_kafka_package(ir):
    files = emit(ir)
    assert "--packages" not in spark_submit_words(files[SUBMIT])
    assert "packages" not in yaml.safe_load(files[APP])["spec"]["deps"]
    assert not any("kafka" in files[path] for path in (JOB, SUBMIT, APP))


# ------------------------------------------------------------------------ submit_stream.sh


def test_stream_submit_script_runs_with_exact_arguments(ir, tmp_path):
    args = run_submit(emit(ir)[SUBMIT], tmp_path, "--source", "orders", "--input", "orders=a b/")
    assert args[:2] == ["--master", "k8s://https://kubernetes.default.svc"]
    assert args[args.index("--name") + 1] == "delivery-eta-stream"
    assert args[-7:] == ["local:///opt/mlc/build/spark/delivery_eta_stream.py", "--state-dir", STATE_DIR,
                         "--source", "orders", "--input", "orders=a b/"]
    conf = conf_values(args)
    secret = f"{redis_secret(ir)}:url"
    for role in ("driver", "executor"):
        assert conf[f"spark.kubernetes.{role}.secretKeyRef.MLC_ONLINE_STORE"] == secret
        volume = f"spark.kubernetes.{role}.volumes.persistentVolumeClaim.{DATA_VOLUME}"
        assert conf[f"{volume}.options.claimName"] == DATA_CLAIM
        assert conf[f"{volume}.mount.path"] == OUTPUT_ROOT
    assert STATE_DIR.startswith(OUTPUT_ROOT + "/")


def test_batch_submit_script_is_not_the_stream_one(ir):
    files = emit(ir)
    assert "delivery_eta_stream.py" not in files["spark/submit.sh"]
    assert "--state-dir" not in files["spark/submit.sh"]
    assert spark_submit_words(files[SUBMIT])[-4:] == [
        "$MLC_BUILD_URI/spark/delivery_eta_stream.py", "--state-dir", STATE_DIR, "$@"]


# ------------------------------------------------------------------------ SparkApplication


def test_stream_application_is_long_running_and_valid(ir):
    text = emit(ir)[APP]
    app = yaml.safe_load(text)
    assert validate_manifest(app) == []
    assert app["metadata"]["name"] == "delivery-eta-stream"
    assert app["metadata"]["labels"]["app.kubernetes.io/component"] == "stream"
    spec = app["spec"]
    assert spec["restartPolicy"] == {"type": "Always", "onFailureRetryInterval": 10,
                                     "onSubmissionFailureRetryInterval": 20}
    assert spec["mainApplicationFile"] == f"local:///opt/mlc/build/{JOB}"
    assert spec["arguments"] == ["--state-dir", STATE_DIR]
    assert spec["volumes"] == [{"name": DATA_VOLUME, "persistentVolumeClaim": {"claimName": DATA_CLAIM}}]
    store = {"name": "MLC_ONLINE_STORE",
             "valueFrom": {"secretKeyRef": {"name": redis_secret(ir), "key": "url"}}}
    batch = yaml.safe_load(emit(ir)["k8s/spark-application.yaml"])["spec"]
    for role in ("driver", "executor"):
        pod = spec[role]
        assert {"name": DATA_VOLUME, "mountPath": OUTPUT_ROOT} in pod["volumeMounts"]
        assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 185}
        assert store in pod["env"] and all("value" not in e for e in pod["env"] if e["name"] == "MLC_ONLINE_STORE")
        sizing = ("cores", "coreRequest", "coreLimit", "memory")
        assert {k: pod.get(k) for k in sizing} == {k: batch[role].get(k) for k in sizing}
    assert spec["driver"]["serviceAccount"] == "spark"
    assert "{{" not in text and "redis://" not in text


def test_validator_rejects_a_broken_stream_application(ir):
    """The CRD check is not vacuous for the fields this manifest adds."""
    app = yaml.safe_load(emit(ir)[APP])
    app["spec"]["restartPolicy"]["onFailureRetryInterval"] = 0
    assert validate_manifest(app) != []
    app = yaml.safe_load(emit(ir)[APP])
    app["spec"]["restartPolicy"]["retryInterval"] = 10
    assert validate_manifest(app) != []


# ------------------------------------------------------------------------ hostile strings


@pytest.mark.parametrize("kind", ["files", "kafka"])
def test_hostile_stream_names_never_break_the_outputs(ir, kind, tmp_path):
    bad = hostile(with_streams(ir, kind=kind, location=HOSTILE,
                               options=(("bootstrap_servers", HOSTILE),) if kind == "kafka" else ()))
    files = emit(bad)
    # Python: parses, imports nothing else, calls nothing new; the text stays in the docstring
    tree = ast.parse(files[JOB])
    assert imported_modules(files[JOB]) <= ALLOWED_IMPORTS
    assert HOSTILE in ast.get_docstring(tree, clean=False)
    assert not any(isinstance(n, ast.Call) and "system" in ast.unparse(n) for n in ast.walk(tree))
    namespace: dict = {"__file__": "build/spark/x.py", "__name__": "job"}
    exec(compile(tree, "job", "exec"), namespace)
    assert namespace["SPEC_NAME"] == "delivery_eta"
    # shell: the hostile image and namespace arrive as exact words, nothing runs
    conf = conf_values(run_submit(files[SUBMIT], tmp_path))
    assert conf["spark.kubernetes.container.image"] == HOSTILE_WORD
    assert conf["spark.kubernetes.namespace"] == HOSTILE_WORD
    # YAML: values, not syntax
    app = yaml.safe_load(files[APP])
    assert app["metadata"]["namespace"] == HOSTILE_WORD and app["spec"]["image"] == HOSTILE_WORD
    assert app["spec"]["restartPolicy"]["type"] == "Always"
    assert list(app) == ["apiVersion", "kind", "metadata", "spec"]


def test_stream_files_are_deterministic(ir):
    first, second = emit(ir), emit(compiled())
    for path in (JOB, SUBMIT, APP):
        assert first[path].encode() == second[path].encode()
        assert first[path].endswith("\n") and not first[path].endswith("\n\n")
