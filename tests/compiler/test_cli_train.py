"""`mlc run --step train`: the error paths as users see them (no traceback, a diagnostic telling
what to run) and how it picks Horovod or a single process. The training itself is stubbed here;
the real runtime is exercised end to end elsewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from specs import TINY_TRAIN_SPEC as SPEC
from conftest import run_mlc



@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "t.mlc.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def test_train_without_training_sets_says_what_to_run(spec, tmp_path):
    result = run_mlc("run", spec.name, "--step", "train", "--output", "out", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "error[E7007]" in result.stderr and "`m/main`" in result.stderr
    assert "mlc run t.mlc.yaml --step training --output out" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "models").exists()


def test_train_unknown_model_and_shard(spec, tmp_path):
    result = run_mlc("run", spec.name, "--step", "train", "--model", "mm", cwd=tmp_path)
    assert result.returncode == 1 and "error[E5002]: unknown model `mm`" in result.stderr
    assert "did you mean `m`?" in result.stderr
    result = run_mlc("run", spec.name, "--step", "train", "--shard", "east", cwd=tmp_path)
    assert result.returncode == 1 and "error[E5002]" in result.stderr and "`main`" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_options_are_validated(spec, tmp_path):
    for bad in (["--workers", "0"], ["--epochs", "x"]):
        result = run_mlc("run", spec.name, "--step", "train", *bad, cwd=tmp_path)
        assert result.returncode == 2 and "positive integer" in result.stderr
    help_text = run_mlc("run", "--help").stdout
    for word in ("train", "--workers", "--model", "--shard", "--epochs"):
        assert word in help_text


@pytest.fixture
def stubbed(spec, tmp_path, monkeypatch):
    """A run folder with the training set's schema.json, a stub training runtime and a recorder
    for subprocesses (horovodrun)."""
    from mlc.app import training

    (tmp_path / "out" / "training" / "m" / "main").mkdir(parents=True)
    (tmp_path / "out" / "training" / "m" / "main" / "schema.json").write_text("{}")
    calls: dict[str, list] = {"runtime": [], "subprocess": []}
    codes = {"runtime": 0}
    monkeypatch.setattr(training, "train", lambda argv: calls["runtime"].append(list(argv)) or codes["runtime"])
    monkeypatch.setattr(training, "require_training", lambda: None)
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: calls["subprocess"].append(command)
                        or subprocess.CompletedProcess(command, 0))
    monkeypatch.chdir(tmp_path)
    return calls, codes


def _expected_argv(tmp_path, spec_hash: str) -> list[str]:
    out = tmp_path / "out"
    return ["--mldl", str(out / "mldl.json"), "--data", str(out / "training"), "--model", "m", "--shard", "main",
            "--output", str(out / "models"), "--spec-hash", spec_hash]


def _spec_hash(spec: Path) -> str:
    from mlc.compiler.pipeline import build

    return build(str(spec)).spec_sha256()


def test_train_single_process_without_horovod(stubbed, spec, tmp_path, monkeypatch, capsys):
    from mlc.app import training
    from mlc.cli import main as cli

    calls, _ = stubbed
    monkeypatch.setattr(training, "horovod_launcher",
                        lambda ranks: (None, "Horovod not installed: sh scripts/install_horovod.sh"))
    assert cli.main(["run", spec.name, "--step", "train", "--output", "out", "--epochs", "3"]) == 0
    err = capsys.readouterr().err
    assert "training m/main single process (Horovod not installed: sh scripts/install_horovod.sh)" in err
    assert calls["runtime"] == [_expected_argv(tmp_path, _spec_hash(spec)) + ["--epochs", "3"]]
    assert calls["subprocess"] == []
    assert (tmp_path / "out" / "mldl.json").is_file()


def test_train_with_horovod_launches_horovodrun(stubbed, spec, tmp_path, monkeypatch, capsys):
    from mlc.app import training
    from mlc.cli import main as cli

    calls, _ = stubbed
    asked = []
    monkeypatch.setattr(training, "horovod_launcher", lambda ranks: asked.append(ranks) or ("/x/horovodrun", ""))
    assert cli.main(["run", spec.name, "--step", "train", "--output", "out"]) == 0
    err = capsys.readouterr().err
    assert "training m/main with Horovod: 2 ranks over Gloo on localhost" in err
    assert asked == [2]                                   # training.workers of the horovod model
    assert calls["subprocess"] == [["/x/horovodrun", "-np", "2", "-H", "localhost:2", "--gloo", sys.executable,
                                    "-m", "mlc.runtime.training", *_expected_argv(tmp_path, _spec_hash(spec))]]
    assert calls["runtime"] == []
    assert cli.main(["run", spec.name, "--step", "train", "--output", "out", "--workers", "3"]) == 0
    assert asked[-1] == 3 and calls["subprocess"][-1][1:5] == ["-np", "3", "-H", "localhost:3"]


def test_horovod_launcher_single_rank_needs_nothing():
    from mlc.app.training import horovod_launcher

    assert horovod_launcher(1) == (None, "")


def test_failed_training_is_a_diagnostic(stubbed, spec, monkeypatch, capsys):
    from mlc.app import training
    from mlc.cli import main as cli

    calls, codes = stubbed
    codes["runtime"] = 3
    monkeypatch.setattr(training, "horovod_launcher", lambda ranks: (None, ""))
    assert cli.main(["run", spec.name, "--step", "train", "--output", "out", "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "training m/main single process\n" in err
    assert "error[E7008]" in err and "exit code 3" in err


# ----------------------------------------------------------------- end to end (real Spark, TensorFlow, Horovod)

def test_end_to_end_run_all_then_train(tmp_path):
    """END TO END: `mlc run --step all` on a tiny spec (features, training sets, training), then
    `--step train` again on the sets it wrote; Horovod over Gloo with 2 ranks when installed."""
    import json

    from specs import write_tiny_project

    write_tiny_project(tmp_path, seed=1, single_process=False)
    result = run_mlc("run", "t.mlc.yaml", "--step", "all", "--output", "out", cwd=tmp_path,
                     env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-4000:]
    # the dev environment builds Horovod (scripts/install_horovod.sh): the 2 workers are real ranks
    assert "training m/main with Horovod: 2 ranks over Gloo on localhost" in result.stderr, result.stderr[-4000:]
    assert (tmp_path / "out" / "training" / "m" / "main" / "schema.json").is_file()
    assert json.loads((tmp_path / "out" / "mldl.json").read_text())["name"] == "tiny"
    assert sorted(p.name for p in (tmp_path / "out" / "models" / "repository" / "m").iterdir()) == ["1"]
    result = run_mlc("run", "t.mlc.yaml", "--step", "train", "--output", "out", "--workers", "1", cwd=tmp_path,
                     env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-4000:]
    assert "training m/main single process\n" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "models" / "repository" / "m").iterdir()) == ["1", "2"]
