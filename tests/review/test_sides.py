"""Sides of a review (mlc.review.sides): spec files, build folders, git revisions, and bad input
reported as located problems, never as tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import EXAMPLES, run_mlc
from mlc.review.artifacts import artifact_diff
from mlc.review.semantic import semantic_diff
from mlc.review.sides import base_for, git_side, load_side

DELIVERY = EXAMPLES / "delivery_eta"
SPEC = DELIVERY / "delivery.mlc.yaml"


@pytest.fixture(scope="module")
def spec_side():
    side = load_side(str(SPEC), "head")
    assert side.problem is None
    return side


@pytest.fixture(scope="module")
def build_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build") / "delivery"
    result = run_mlc("compile", str(SPEC), "-o", str(out))
    assert result.returncode == 0, result.stderr
    return out


# ------------------------------------------------------------------------------ spec files


def test_a_spec_is_compiled_in_memory(spec_side, tmp_path):
    assert spec_side.role == "head" and spec_side.label == str(SPEC)
    assert spec_side.mldl["name"] == "delivery_eta" and spec_side.ir.name == "delivery_eta"
    assert spec_side.experiments["layers"][0]["name"] == "eta_model"
    assert "manifest.json" not in spec_side.files and "mldl.json" in spec_side.files
    assert json.loads(spec_side.files["mldl.json"]) == spec_side.mldl
    assert "feature_groups" in spec_side.root.entries           # the composed YAML tree, includes merged
    assert "entities" in spec_side.root.entries
    assert not (DELIVERY / "build").exists()


def test_an_environment_applies(spec_side):
    prod = load_side(str(SPEC), "head", env="prod")
    assert prod.problem is None and prod.mldl["deployment"]["namespace"] == "delivery-eta-prod"
    unknown = load_side(str(SPEC), "head", env="prdo")
    assert unknown.mldl is None and unknown.problem.codes == ("E1105",)
    assert "did you mean `prod`?" in unknown.problem.text


def test_a_missing_file_is_a_problem(tmp_path):
    side = load_side(str(tmp_path / "nope.mlc.yaml"), "base")
    assert side.mldl is None and side.files == {} and side.problem.side == "base"
    assert side.problem.codes == ("E1006",)
    assert "file not found" in side.problem.text and "Traceback" not in side.problem.text


def test_invalid_yaml_and_an_invalid_spec_are_located(tmp_path):
    broken = tmp_path / "broken.mlc.yaml"
    broken.write_text("version: 1\nname: x\nmodels: {a: [}\n")
    side = load_side(str(broken), "head")
    assert side.problem.codes == ("E1001",)
    assert "broken.mlc.yaml:3:" in side.problem.text and "^" in side.problem.text

    invalid = tmp_path / "invalid.mlc.yaml"
    invalid.write_text(SPEC.read_text().replace("training:\n      source: orders", "training:\n      source: orderz", 1))
    shutil.copy(DELIVERY / "common.mlc.yaml", tmp_path / "common.mlc.yaml")
    side = load_side(str(invalid), "head")
    assert side.mldl is None and "E5002" in side.problem.codes
    assert "invalid.mlc.yaml:" in side.problem.text and "orderz" in side.problem.text and "^" in side.problem.text
    assert side.root is not None                                   # for locating what HEAD still uses


def test_a_file_that_is_not_a_spec_is_a_problem(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("just words\n")
    side = load_side(str(text), "head")
    assert side.problem is not None and side.problem.codes and "Traceback" not in side.problem.text


# ---------------------------------------------------------------------------- build folders


def test_a_build_folder_reads_as_the_spec_compiles(spec_side, build_folder):
    side = load_side(str(build_folder), "base")
    assert side.problem is None, side.problem.text
    assert side.label == str(build_folder) and side.root is None
    assert side.ir.name == "delivery_eta" and side.experiments == spec_side.experiments
    assert "manifest.json" not in side.files
    assert semantic_diff(side.mldl, spec_side.mldl) == []
    assert artifact_diff(side.files, spec_side.files) == []


def test_a_tampered_build_folder_is_a_problem(build_folder, tmp_path):
    copy = tmp_path / "tampered"
    shutil.copytree(build_folder, copy)
    target = copy / "experiments" / "config.json"
    target.write_text(target.read_text().replace('"traffic": 40.0', '"traffic": 45.0'))
    side = load_side(str(copy), "base")
    assert side.mldl is None and side.problem.codes == ("E6005",)
    assert "experiments/config.json does not match its sha256" in side.problem.text


def test_a_build_folder_with_a_missing_file_or_manifest_is_a_problem(build_folder, tmp_path):
    copy = tmp_path / "incomplete"
    shutil.copytree(build_folder, copy)
    (copy / "mldl.json").unlink()
    side = load_side(str(copy), "base")
    assert side.problem is not None and "mldl.json" in side.problem.text

    (copy / "manifest.json").write_text("{not json")
    assert "not valid JSON" in load_side(str(copy), "base").problem.text

    empty = tmp_path / "empty"
    empty.mkdir()
    side = load_side(str(empty), "base")
    assert "not an mlc build folder" in side.problem.text and "Traceback" not in side.problem.text


def test_a_manifest_cannot_point_outside_the_folder(build_folder, tmp_path):
    copy = tmp_path / "escaping"
    shutil.copytree(build_folder, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["../secret"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    side = load_side(str(copy), "base")
    assert side.problem.codes == ("E6005",) and "invalid path `../secret`" in side.problem.text


# -------------------------------------------------------------------------------------- git


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    """A repository with the delivery example committed under specs/, then edited in the
    working tree: traffic ramped in the spec, a source column renamed in the include."""
    root = tmp_path / "repo"
    (root / "specs").mkdir(parents=True)
    for name in ("delivery.mlc.yaml", "common.mlc.yaml"):
        shutil.copy(DELIVERY / name, root / "specs" / name)
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "delivery")
    spec = root / "specs" / "delivery.mlc.yaml"
    spec.write_text(spec.read_text().replace("traffic: 40", "traffic: 45"))
    common = root / "specs" / "common.mlc.yaml"
    common.write_text(common.read_text().replace("description: Completed orders, timed by drop-off.",
                                                 "description: Completed orders."))
    return root


def test_a_spec_at_a_revision_compiles_with_that_revisions_includes(repo, monkeypatch):
    monkeypatch.chdir(repo / "specs")
    head = load_side("delivery.mlc.yaml", "head")
    assert base_for("delivery.mlc.yaml", "HEAD") == "HEAD:specs/delivery.mlc.yaml"
    base = load_side(base_for("delivery.mlc.yaml", "HEAD"), "base")
    assert base.problem is None and base.label == "HEAD:specs/delivery.mlc.yaml"
    changes = semantic_diff(base.mldl, head.mldl)
    assert changes[0].dotted == "experiments.dnn_vs_wide_deep.traffic"
    assert base.root.get("sources").file == "HEAD:specs/common.mlc.yaml"   # no temporary folder

    # the include as committed: editing the working tree's include does not leak into BASE
    (repo / "specs" / "common.mlc.yaml").write_text("entities: {}\n")
    again = load_side("HEAD:specs/delivery.mlc.yaml", "base")
    assert again.problem is None and semantic_diff(base.mldl, again.mldl) == []


def test_revision_paths_may_be_working_tree_paths(repo, monkeypatch):
    monkeypatch.chdir(repo / "specs")
    by_root = git_side("HEAD", "specs/delivery.mlc.yaml", "base")
    by_cwd = git_side("HEAD", "./delivery.mlc.yaml", "base")
    absolute = git_side("HEAD", str(repo / "specs" / "delivery.mlc.yaml"), "base")
    assert by_root.label == by_cwd.label == absolute.label == "HEAD:specs/delivery.mlc.yaml"
    assert by_root.mldl == by_cwd.mldl == absolute.mldl
    monkeypatch.chdir(repo)
    assert base_for(str(repo / "specs" / "delivery.mlc.yaml"), "origin/main") == "origin/main:specs/delivery.mlc.yaml"
    assert base_for("HEAD~1:specs/delivery.mlc.yaml", "main") == "main:specs/delivery.mlc.yaml"


def test_an_invalid_spec_at_a_revision_names_the_revision_not_a_temporary_folder(repo, monkeypatch):
    spec = repo / "specs" / "delivery.mlc.yaml"
    spec.write_text(spec.read_text().replace("entity: rider\n    source: orders", "entity: rider\n    source: orderz", 1))
    git(repo, "commit", "-qam", "broken")
    monkeypatch.chdir(repo)
    side = load_side("HEAD:specs/delivery.mlc.yaml", "base")
    assert side.mldl is None and "E5002" in side.problem.codes
    assert side.problem.label == "HEAD:specs/delivery.mlc.yaml"
    assert "HEAD:specs/delivery.mlc.yaml:" in side.problem.text and "^" in side.problem.text
    assert "mlc-review-" not in side.problem.text and "/tmp" not in side.problem.text
    assert side.root.file.startswith("HEAD:specs/")


def test_git_errors_are_problems(repo, monkeypatch, tmp_path):
    monkeypatch.chdir(repo)
    missing_path = load_side("HEAD:specs/nope.mlc.yaml", "base")
    assert "does not exist in 'HEAD'" in missing_path.problem.text and missing_path.problem.codes == ("E1006",)
    missing_rev = load_side("no-such-branch:specs/delivery.mlc.yaml", "base")
    assert "no-such-branch" in missing_rev.problem.text and missing_rev.mldl is None
    folder = load_side("HEAD:specs", "base")
    assert "is not a file" in folder.problem.text

    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    monkeypatch.chdir(outside)
    side = load_side("HEAD:specs/delivery.mlc.yaml", "base")
    assert "not a git repository" in side.problem.text and "Traceback" not in side.problem.text
    assert base_for("delivery.mlc.yaml", "HEAD") == "HEAD:delivery.mlc.yaml"
