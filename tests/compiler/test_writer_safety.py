"""`mlc compile -o DIR` never deletes what mlc did not write (compiler/writer.py).

Only a folder with mlc's own manifest is replaced; files the previous build did not list (or
listed but edited, where the new build does not write) are carried over; a user's file where
the new build writes stops the write, naming the files, with the folder untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from conftest import run_mlc

from mlc.compiler.writer import WriteRefused, write_tree

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


def tree(files: dict[str, str]) -> dict[str, str]:
    """``files`` plus an mlc manifest listing them."""
    listed = {path: hashlib.sha256(text.encode()).hexdigest() for path, text in files.items()}
    manifest = {"manifest_version": 1, "mlc_version": "0.1.0", "spec": {}, "files": listed}
    return {**files, "manifest.json": json.dumps(manifest, indent=2) + "\n"}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".mlc-build-")]


OLD = tree({"mldl.json": "{}\n", "preprocess/p.py": "old\n", "gone/only_old.txt": "x\n"})
NEW = tree({"mldl.json": "{\"v\": 2}\n", "preprocess/p.py": "new\n", "train/t.py": "t\n"})


# ----------------------------------------------------------- what is a build


@pytest.mark.parametrize("manifest", [
    '{"hello": 1}',
    "[1, 2]",
    "not json",
    '{"manifest_version": 1, "mlc_version": "0.1.0"}',
    '{"manifest_version": 1, "mlc_version": "0.1.0", "files": {"../outside.txt": "' + "0" * 64 + '"}}',
    '{"manifest_version": 1, "mlc_version": "0.1.0", "files": {"/etc/passwd": "' + "0" * 64 + '"}}',
    '{"manifest_version": 1, "mlc_version": "0.1.0", "files": {"notes.txt": "not-a-sha"}}',
    '{"manifest_version": "1", "mlc_version": "0.1.0", "files": {}}',
])
def test_folder_with_a_foreign_manifest_is_refused(tmp_path, manifest):
    # BUG: any folder holding a file named manifest.json was taken for a build and wiped
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "manifest.json").write_text(manifest)
    (folder / "notes.txt").write_text("keep me")
    before = snapshot(folder)
    with pytest.raises(WriteRefused) as refused:
        write_tree(NEW, str(folder))
    assert refused.value.code == "E6002"
    assert "holds no mlc build" in refused.value.message
    assert snapshot(folder) == before and leftovers(tmp_path) == []


def test_cli_refuses_a_user_folder_with_manifest_json(tmp_path):
    (tmp_path / "a.mlc.yaml").write_text(GOOD)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"hello": 1}')
    (folder / "notes.txt").write_text("keep me")
    result = run_mlc("compile", "a.mlc.yaml", "-o", "mine", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "error[E6002]: cannot write the build: mine is not empty and holds no mlc build" in result.stderr
    assert (folder / "notes.txt").read_text() == "keep me"
    assert (folder / "manifest.json").read_text() == '{"hello": 1}'


def test_a_refusal_in_json_is_one_document_with_every_diagnostic(tmp_path):
    (tmp_path / "a.mlc.yaml").write_text(GOOD)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "manifest.json").write_text('{"hello": 1}')
    result = run_mlc("compile", "a.mlc.yaml", "-o", "mine", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    document = json.loads(result.stdout)              # one document: tools can parse it
    assert [d["code"] for d in document["diagnostics"]] == ["E6002"]


def test_empty_folder_and_new_folder_are_written(tmp_path):
    (tmp_path / "empty").mkdir()
    write_tree(NEW, str(tmp_path / "empty"))
    write_tree(NEW, str(tmp_path / "new" / "deeper"))
    assert snapshot(tmp_path / "empty") == snapshot(tmp_path / "new" / "deeper") == {
        path: text.encode() for path, text in NEW.items()}
    assert leftovers(tmp_path) == []


# ------------------------------------------------------ carrying files over


def test_files_the_previous_build_did_not_list_survive(tmp_path):
    out = tmp_path / "build"
    write_tree(OLD, str(out))
    (out / "notes.txt").write_text("my notes")
    (out / "preprocess" / "scratch.py").write_text("mine too")
    (out / "runs" / "r1").mkdir(parents=True)
    (out / "runs" / "r1" / "log.txt").write_text("log")
    (out / "empty_dir").mkdir()
    (out / "link").symlink_to(tmp_path)  # a link to outside: moved as a link, never followed
    write_tree(NEW, str(out))
    after = snapshot(out)
    assert {p: after[p] for p in NEW} == {p: t.encode() for p, t in NEW.items()}
    assert after["notes.txt"] == b"my notes" and after["preprocess/scratch.py"] == b"mine too"
    assert after["runs/r1/log.txt"] == b"log"
    assert (out / "empty_dir").is_dir() and (out / "link").is_symlink()
    assert not (out / "gone").exists()  # listed by the old build only: removed
    assert leftovers(tmp_path) == []


def test_cli_recompile_keeps_notes_in_the_build_folder(tmp_path):
    (tmp_path / "a.mlc.yaml").write_text(GOOD)
    assert run_mlc("compile", "a.mlc.yaml", "-o", "build", cwd=tmp_path).returncode == 0
    (tmp_path / "build" / "notes.txt").write_text("keep me")
    (tmp_path / "a.mlc.yaml").write_text(GOOD.replace("log1p(x)", "log1p(x * 2)"))
    result = run_mlc("compile", "a.mlc.yaml", "-o", "build", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "build" / "notes.txt").read_text() == "keep me"
    assert "log1p(x * 2)" in (tmp_path / "build" / "mldl.json").read_text()
    manifest = json.loads((tmp_path / "build" / "manifest.json").read_text())
    assert "notes.txt" not in manifest["files"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mine", [
    "train/t.py",     # the same path
    "train",          # a file where the build needs a folder
    "train/t.py/x",   # a folder (with a file) where the build writes a file
])
def test_user_file_where_the_new_build_writes_is_refused(tmp_path, mine):
    out = tmp_path / "build"
    write_tree(OLD, str(out))
    (out / mine).parent.mkdir(parents=True, exist_ok=True)
    (out / mine).write_text("mine")
    before = snapshot(out)
    with pytest.raises(WriteRefused) as refused:
        write_tree(NEW, str(out))
    assert refused.value.code == "E6006"
    assert f"`{mine}`" in refused.value.message and "not part of the previous build" in refused.value.message
    assert snapshot(out) == before and leftovers(tmp_path) == []


# ------------------------------------------------------ edited generated files


def test_edited_generated_file_is_regenerated_where_the_new_build_writes(tmp_path):
    out = tmp_path / "build"
    write_tree(OLD, str(out))
    (out / "preprocess" / "p.py").write_text("damaged")  # a damaged build never blocks the next one
    write_tree(NEW, str(out))
    assert (out / "preprocess" / "p.py").read_text() == "new\n"
    assert leftovers(tmp_path) == []


def test_edited_generated_file_the_new_build_drops_is_kept(tmp_path):
    # BUG: the whole old folder was deleted, whatever the manifest said about its files
    out = tmp_path / "build"
    write_tree(OLD, str(out))
    (out / "gone" / "only_old.txt").write_text("my edit")
    write_tree(NEW, str(out))
    assert (out / "gone" / "only_old.txt").read_text() == "my edit"
    assert "gone/only_old.txt" not in json.loads((out / "manifest.json").read_text())["files"]
    assert leftovers(tmp_path) == []
    with pytest.raises(WriteRefused) as refused:  # now a user's file where the old tree writes
        write_tree(OLD, str(out))
    assert refused.value.code == "E6006"


def test_listed_file_behind_a_symlinked_folder_is_never_touched(tmp_path):
    # a listed path whose folder was replaced by a link to elsewhere: the file there is not ours
    out = tmp_path / "build"
    write_tree(OLD, str(out))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "only_old.txt").write_text("x\n")  # the very content the manifest lists
    for name in os.listdir(out / "gone"):
        (out / "gone" / name).unlink()
    (out / "gone").rmdir()
    (out / "gone").symlink_to(elsewhere, target_is_directory=True)
    write_tree(NEW, str(out))
    assert (elsewhere / "only_old.txt").read_text() == "x\n"
    assert (out / "gone").is_symlink()  # carried over as a link
    (out / "preprocess").rename(tmp_path / "moved")
    (out / "preprocess").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(WriteRefused) as refused:  # the build would write through the link
        write_tree(NEW, str(out))
    assert refused.value.code == "E6006" and "`preprocess`" in refused.value.message
    assert sorted(os.listdir(elsewhere)) == ["only_old.txt"]


# ---------------------------------------------------------------- atomicity


def test_failure_while_writing_leaves_the_previous_build_intact(tmp_path):
    out = tmp_path / "build"
    write_tree(OLD, str(out))
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    broken = {"a": "file\n", "a/b": "cannot be both a file and a folder\n"}
    with pytest.raises(OSError):
        write_tree(broken, str(out))
    assert snapshot(out) == before and leftovers(tmp_path) == []


def test_symlinked_build_folder_is_replaced_behind_the_link(tmp_path):
    real = tmp_path / "real"
    write_tree(OLD, str(real))
    (real / "notes.txt").write_text("mine")
    (tmp_path / "build").symlink_to(real, target_is_directory=True)
    write_tree(NEW, str(tmp_path / "build"))
    assert (tmp_path / "build").is_symlink()
    assert (real / "train" / "t.py").read_text() == "t\n" and (real / "notes.txt").read_text() == "mine"
    assert leftovers(tmp_path) == []
