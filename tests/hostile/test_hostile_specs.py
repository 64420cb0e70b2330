"""The hostile-spec corpus: specs written by an attacker or a careless user, run through the CLI
exactly as CI runs it on a pull request (`mlc validate`, text and JSON), each in its own
process with a memory limit and a timeout.

For every case: exit 1, no traceback, the expected codes, every error located (file:line:col),
no raw control character and no line longer than ``MAX_LINE`` in the text output, and nothing
of a file outside the project printed. Static cases live in ``corpus/`` (first line
``# expect: CODE ...``, then ``# never-print: TEXT`` lines); cases that need the file system
(FIFOs, symlinks, huge files, include diamonds) are made here.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

CORPUS = Path(__file__).with_name("corpus")
MEMORY_LIMIT = 2 * 2 ** 30
TIMEOUT_S = 60
MAX_LINE = 1000
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
UNLOCATED_OK = {"E1105"}
SMALL_SPEC = (CORPUS / "python_tag_name.mlc.yaml").read_text().split("\n", 1)[1].replace(
    "name: !!python/name:os.system", "name: hostile")


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def mlc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO.parent), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "mlc", *args], cwd=cwd, env=env, capture_output=True,
                          timeout=TIMEOUT_S, preexec_fn=_limit_memory)


def check_refused(spec: str, cwd: Path, expect: set[str], never: tuple[str, ...] = (),
                  unlocated_ok: frozenset[str] = frozenset()) -> list[dict]:
    """Validate ``spec`` as text and as JSON; returns the JSON diagnostics after the checks.
    ``unlocated_ok``: codes that may come without a place (the file named on the command line
    cannot be read: there is no text to point into)."""
    text = mlc("validate", spec, cwd=cwd)
    out = text.stdout.decode("utf-8", "replace") + text.stderr.decode("utf-8", "replace")
    assert text.returncode == 1, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert not CONTROL.search(out), f"raw control character {CONTROL.search(out).group(0)!r} in:\n{out[:3000]}"
    assert max(map(len, out.splitlines()), default=0) <= MAX_LINE, "an echoed line is not truncated"
    for secret in never:
        assert secret not in out, f"`{secret}` was printed:\n{out[:3000]}"
    as_json = mlc("validate", spec, "--format", "json", cwd=cwd)
    assert as_json.returncode == 1 and b"Traceback" not in as_json.stderr, as_json.stderr[-3000:]
    diagnostics = json.loads(as_json.stdout)["diagnostics"]
    codes = {d["code"] for d in diagnostics}
    assert expect <= codes, f"expected {sorted(expect)}, got {sorted(codes)}:\n{out[:3000]}"
    for diag in diagnostics:
        if diag["severity"] == "error" and diag["code"] not in UNLOCATED_OK | unlocated_ok:
            assert {"file", "line", "col"} <= diag.keys(), f"unlocated: {diag}"
    return diagnostics


def _corpus_cases() -> list[Path]:
    return sorted(CORPUS.glob("*.mlc.yaml"))


@pytest.mark.parametrize("case", _corpus_cases(), ids=lambda p: p.name.split(".")[0])
def test_corpus_case_is_refused_cleanly(case, tmp_path):
    lines = case.read_text(encoding="utf-8").splitlines()
    expect = set(lines[0].removeprefix("# expect:").split())
    never = tuple(line.removeprefix("# never-print:").strip() for line in lines[1:] if line.startswith("# never-print:"))
    project = tmp_path / "project"
    project.mkdir()
    (project / case.name).write_bytes(case.read_bytes())
    check_refused(case.name, project, expect, never)


def test_the_corpus_covers_every_loading_and_limit_code():
    covered = {code for case in _corpus_cases() for code in case.read_text().splitlines()[0].split()[2:]}
    assert {"E1004", "E1005", "E1007", "E1106", "E2007", "E2008", "E3010", "E5027", "E5038", "E5039"} <= covered | {"E5038"}


def test_the_checks_can_fail(tmp_path):
    """A valid spec is not 'refused cleanly': the harness notices (exit 0, missing codes)."""
    (tmp_path / "ok.mlc.yaml").write_text(SMALL_SPEC)
    with pytest.raises(AssertionError):
        check_refused("ok.mlc.yaml", tmp_path, {"E1004"})


# --------------------------------------------------------------------- made on the file system


def _project(tmp_path: Path, include: str | None = None) -> Path:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    text = SMALL_SPEC if include is None else f"include: [{include}]\n" + SMALL_SPEC
    (project / "s.mlc.yaml").write_text(text)
    return project


def test_include_of_a_fifo_never_blocks(tmp_path):
    project = _project(tmp_path, "pipe.mlc.yaml")
    os.mkfifo(project / "pipe.mlc.yaml")
    check_refused("s.mlc.yaml", project, {"E1006"})


def test_a_fifo_as_the_spec_never_blocks(tmp_path):
    project = _project(tmp_path)
    os.mkfifo(project / "pipe.mlc.yaml")
    check_refused("pipe.mlc.yaml", project, {"E1006"}, unlocated_ok=frozenset({"E1006"}))


def test_dev_zero_as_the_spec(tmp_path):
    check_refused("/dev/zero", _project(tmp_path), {"E1006"}, unlocated_ok=frozenset({"E1006"}))


def test_include_of_a_huge_file(tmp_path):
    project = _project(tmp_path, "huge.mlc.yaml")
    with open(project / "huge.mlc.yaml", "w") as handle:
        handle.write("# padding\n" * 600_000)
    check_refused("s.mlc.yaml", project, {"E1107"})


def test_include_diamonds_load_each_file_once(tmp_path):
    project = _project(tmp_path, "d0.mlc.yaml, d0.mlc.yaml")
    for i in range(40):
        following = f"include: [d{i + 1}.mlc.yaml, d{i + 1}.mlc.yaml]\n" if i < 39 else ""
        (project / f"d{i}.mlc.yaml").write_text(following + f"entities: {{e{i}: {{keys: [x]}}}}\n")
    result = mlc("validate", "s.mlc.yaml", cwd=project)       # 2**40 paths if walked: must not hang
    assert b"Traceback" not in result.stderr, result.stderr[-3000:]


def test_a_symlink_out_of_the_project_is_refused_without_reading_it(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN: 1\n")
    project = _project(tmp_path, "link.mlc.yaml")
    os.symlink(secret, project / "link.mlc.yaml")
    check_refused("s.mlc.yaml", project, {"E1106"}, never=("TOP-SECRET-TOKEN",))


def test_a_symlinked_folder_loop_is_a_cycle_not_a_hang(tmp_path):
    project = _project(tmp_path, "loop/s.mlc.yaml")
    os.symlink(".", project / "loop")
    (project / "s.mlc.yaml").write_text("include: [loop/s.mlc.yaml]\n" + SMALL_SPEC)
    check_refused("s.mlc.yaml", project, {"E1103"})


def test_a_spec_that_is_not_utf8_is_located(tmp_path):
    project = _project(tmp_path)
    (project / "s.mlc.yaml").write_bytes(SMALL_SPEC.encode().replace(b"name: hostile", b"name: host\xff\xfeile"))
    diagnostics = check_refused("s.mlc.yaml", project, {"E1006"})
    assert any(d.get("line") == 2 for d in diagnostics), diagnostics


def test_deep_block_nesting(tmp_path):
    project = _project(tmp_path)
    deep = "x_deep:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(1500)) + " " * 1501 + "v\n"
    (project / "s.mlc.yaml").write_text(SMALL_SPEC + deep)
    check_refused("s.mlc.yaml", project, {"E1005"})


def test_a_very_long_value_is_echoed_truncated(tmp_path):
    project = _project(tmp_path)
    (project / "s.mlc.yaml").write_text(SMALL_SPEC.replace("name: hostile", "name: '" + "Z" * 100_000 + "'"))
    check_refused("s.mlc.yaml", project, {"E5001"})


def test_compile_never_wipes_a_folder_that_is_not_an_mlc_build(tmp_path):
    project = _project(tmp_path)
    folder = project / "mine"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"hello": 1}\n')
    (folder / "notes.txt").write_text("my notes\n")
    result = mlc("compile", "s.mlc.yaml", "-o", "mine", cwd=project)
    assert result.returncode == 1 and b"Traceback" not in result.stderr, result.stderr[-3000:]
    assert b"error[E6002]" in result.stderr
    assert (folder / "notes.txt").read_text() == "my notes\n" and (folder / "manifest.json").exists()
