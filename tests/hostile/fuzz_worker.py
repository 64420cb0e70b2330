"""The mutation fuzzer's worker: mutates real specs with hostile edits and compiles each one.

    python fuzz_worker.py SEED SECONDS WORKDIR

Runs in its own process with an address-space limit (``MEMORY_LIMIT``) so that a mutation
that makes the compiler eat memory ends as a MemoryError here instead of taking the machine.
Before each case it writes the case to ``WORKDIR/current.json``, so that when the worker hangs
(the parent kills it) or dies, the parent can show the input that did it. Every failure is one
JSON line on stdout: ``{"case": ..., "problem": ..., "detail": ...}``; the last line is
``{"done": N}`` with the number of cases run.

A case fails when: ``build`` or a renderer raises; a diagnostic has no code, is unlocated (a
spec-content error without file:line:col) or points outside its file; the rendered text carries
a raw control character; a successful build cannot be emitted or emits Python that does not
parse; one case takes longer than ``CASE_SECONDS``.
"""

from __future__ import annotations

import ast
import json
import os
import random
import re
import resource
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

MEMORY_LIMIT = 3 * 2 ** 30
CASE_SECONDS = 20
REPO = Path(__file__).resolve().parents[2]   # the sabotage test runs a copy elsewhere: see MLC_REPO
REPO = Path(os.environ.get("MLC_REPO", REPO))
EXAMPLES = [REPO / "examples" / "delivery_eta" / "delivery.mlc.yaml", REPO / "examples" / "ctr_criteo" / "ctr.mlc.yaml"]
# Diagnostics that are about the command, not a place in a file.
UNLOCATED_OK = {"E1105"}
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

HOSTILE_SCALARS = [
    ".inf", "-.inf", ".nan", "1" * 5000, "-" + "9" * 400, "0x" + "f" * 200, "1e400", "-0",
    '"\\x1b[2J\\x1b[31mforged"', '"\\a\\r\\n"', '"\\u202eevil"', '"\\0"', '"\\ud800"', "'$(rm -rf /)'",
    '"a\\nkind: Secret"', "''", "~", "[]", "{}", "[1, [2, [3]]]", "!!python/object/apply:os.system [id]",
    "!!python/name:os.system", "!custom x", "&anchor value", "*undefined", "'" + "x" * 70000 + "'",
    "\"" + "(" * 300 + "x" + ")" * 300 + "\"", "\"" + "-" * 2000 + "x\"", "\"" + " + ".join(["x"] * 3000) + "\"",
    "\"" + "abs(" * 500 + "x" + ")" * 500 + "\"", "\"" + "not " * 1500 + "true\"", "2024-13-45T99:99:99Z",
    "\"../../../../etc/passwd\"", "/dev/zero", "\"\\U0010FFFF\"", "yes", "NO", "0o777", "12:30:00",
]
HOSTILE_LINES = [
    "include: [/etc/passwd]", "include: [../../../../../../etc/hostname]", "include: [/dev/zero]",
    "include: [.]", "include: [" + ", ".join(["common.mlc.yaml"] * 50) + "]", "<<: *x", "? [a, b]\n: c",
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]",
    "x: " + "[" * 3000, "x: " + "{a: " * 500 + "1" + "}" * 500, "\t\tbad: tab", "--- \n---", "%YAML 1.1", "@", "`",
    "environments: {prod: {environments: {}}}", "name: \x1b]0;title\x07", "\ufeffversion: 1",
]


def mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(7)
        at = rng.randrange(len(lines))
        if kind == 0:                                   # a value replaced by a hostile one
            match = re.match(r"^(\s*[\w.-]+:\s*)(\S.*)$", lines[at])
            if match:
                lines[at] = match.group(1) + rng.choice(HOSTILE_SCALARS)
        elif kind == 1:                                 # a hostile line, at this line's indentation
            indent = re.match(r"^\s*", lines[at]).group(0)
            lines.insert(at, "\n".join(indent + part for part in rng.choice(HOSTILE_LINES).split("\n")))
        elif kind == 2:                                 # a line dropped
            del lines[at]
        elif kind == 3:                                 # a line duplicated
            lines.insert(at, lines[at])
        elif kind == 4:                                 # a span of characters deleted
            line = lines[at]
            if line:
                start = rng.randrange(len(line))
                lines[at] = line[:start] + line[start + rng.randint(1, 8):]
        elif kind == 5:                                 # indentation shifted
            lines[at] = " " * rng.randint(0, 6) + lines[at].lstrip()
        else:                                           # a hostile scalar inside a flow value
            lines[at] = lines[at].replace(",", ", " + rng.choice(HOSTILE_SCALARS) + ",", 1)
        if not lines:
            lines = [""]
    return "\n".join(lines)


class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CaseTimeout()


def check(path: Path) -> list[tuple[str, str]]:
    from mlc.compiler.artifacts import ArtifactError, artifact_tree
    from mlc.core.diagnostics import render_github, render_json, render_text
    from mlc.compiler.pipeline import build

    problems = []
    result = build(str(path))
    text = render_text(result.diagnostics, result.sources)
    render_json(result.diagnostics)
    render_github(result.diagnostics)
    if CONTROL.search(text):
        problems.append(("raw control character in text diagnostics", repr(CONTROL.search(text).group(0))))
    for diag in result.diagnostics:
        if not re.fullmatch(r"[EW]\d{4}", diag.code):
            problems.append(("bad code", diag.code))
        if diag.span is None:
            if diag.is_error and diag.code not in UNLOCATED_OK:
                problems.append(("unlocated error", f"{diag.code} {diag.message[:200]}"))
            continue
        source = result.sources.text(diag.span.file)
        if source is None:
            problems.append(("span in a file that was not read", diag.span.file))
        elif not 1 <= diag.span.start.line <= source.count("\n") + 1:
            problems.append(("span outside its file", f"{diag.code} line {diag.span.start.line}"))
    if result.ok:
        try:
            files = artifact_tree(result)
        except ArtifactError:
            return problems
        for name, body in files.items():
            if name.endswith(".py"):
                ast.parse(body, filename=name)
    elif not any(d.is_error for d in result.diagnostics):
        problems.append(("failed without an error", result.failed_stage or "?"))
    return problems


def main(seed: int, seconds: float, workdir: Path) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    signal.signal(signal.SIGALRM, _alarm)
    sys.setrecursionlimit(10_000)       # a deep-recursion bug must show as RecursionError, not a C overflow
    rng = random.Random(seed)
    project = workdir / "project"
    for example in EXAMPLES:
        shutil.copytree(example.parent, project / example.parent.name, ignore=shutil.ignore_patterns("data"),
                        dirs_exist_ok=True)
    bases = [(project / e.parent.name / e.name) for e in EXAMPLES]
    originals = {p: p.read_text() for p in bases}
    deadline = time.monotonic() + seconds
    done = 0
    while time.monotonic() < deadline:
        base = rng.choice(bases)
        mutated = mutate(originals[base], rng)
        case = {"seed": seed, "index": done, "base": base.name, "text": mutated}
        (workdir / "current.json").write_text(json.dumps(case))
        target = base.with_name("fuzz.mlc.yaml")
        target.write_bytes(mutated.encode("utf-8", "surrogatepass"))
        signal.alarm(CASE_SECONDS)
        try:
            problems = check(target)
        except CaseTimeout:
            problems = [("hang", f"more than {CASE_SECONDS} s")]
        except BaseException as err:  # noqa: BLE001 - any escape is the finding
            problems = [(f"raised {type(err).__name__}", traceback.format_exc()[-3000:])]
        finally:
            signal.alarm(0)
        for problem, detail in problems:
            print(json.dumps({"case": case, "problem": problem, "detail": detail}), flush=True)
        done += 1
    print(json.dumps({"done": done}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])))
