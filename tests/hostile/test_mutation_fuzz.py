"""Mutation fuzzing of the compiler, time-boxed: hostile edits of the example specs must give
located diagnostics (or a build that emits valid Python), never a traceback, a hang or unbounded
memory. The worker (``fuzz_worker.py``) runs in its own process under an address-space limit;
this test kills it when it overruns and shows the input it was on.

``MLC_FUZZ_SECONDS`` sets the time box (default 40 s; CI uses the default), ``MLC_FUZZ_SEED``
the seed (default: a fixed one, so CI is repeatable; set it to explore).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

WORKER = Path(__file__).with_name("fuzz_worker.py")
SECONDS = float(os.environ.get("MLC_FUZZ_SECONDS", "40"))
SEED = int(os.environ.get("MLC_FUZZ_SEED", "20261207"))


def _run_worker(workdir: Path, seed: int, seconds: float) -> tuple[list[dict], dict | None, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO.parent), "MLC_REPO": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(WORKER), str(seed), str(seconds), str(workdir)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=30)
        current = (workdir / "current.json").read_text() if (workdir / "current.json").exists() else "?"
        raise AssertionError(f"the fuzz worker hung beyond its time box; it was compiling:\n{current[:4000]}") from None
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    done = next((r for r in records if "done" in r), None)
    return [r for r in records if "problem" in r], done, err


def test_hostile_mutations_of_the_examples_never_crash_hang_or_go_unlocated(tmp_path):
    failures, done, stderr = _run_worker(tmp_path, SEED, SECONDS)
    if done is None:
        current = (tmp_path / "current.json").read_text() if (tmp_path / "current.json").exists() else "?"
        raise AssertionError(f"the fuzz worker died:\n{stderr[-3000:]}\nwhile compiling:\n{current[:4000]}")
    assert done["done"] >= 20, f"only {done['done']} cases in {SECONDS} s"
    shown = [f"{f['problem']}: {f['detail'][:1500]}\n--- spec ---\n{f['case']['text'][:1500]}" for f in failures[:3]]
    assert not failures, f"{len(failures)} failing case(s) of {done['done']}:\n" + "\n\n".join(shown)


def test_the_fuzzer_reports_what_it_finds(tmp_path, monkeypatch):
    """The harness can fail: a worker whose checks see a crash reports it with the input."""
    sabotaged = tmp_path / "sabotaged_worker.py"
    sabotaged.write_text(WORKER.read_text().replace(
        "    problems = []\n    result = build(str(path))\n",
        "    problems = []\n    result = build(str(path))\n    raise ZeroDivisionError('planted')\n"))
    monkeypatch.setattr(sys.modules[__name__], "WORKER", sabotaged)
    (tmp_path / "w").mkdir()
    failures, done, _ = _run_worker(tmp_path / "w", SEED, 3)
    assert done is not None and failures
    assert failures[0]["problem"] == "raised ZeroDivisionError" and failures[0]["case"]["text"]
