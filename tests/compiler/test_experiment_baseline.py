"""Ramp safety against a baseline (compiler/experiment_baseline.py): W5104-W5107, located at
the new spec's keys with hints; the loader (E6004); `mlc compile` into its own output folder."""

from __future__ import annotations

import json

import pytest
from specs import MINIMAL_SPEC

from mlc.backends.experiments import document
from mlc.compiler.experiment_baseline import compare, load_baseline
from mlc.compiler.pipeline import build

E2 = "        e2:\n          unit: rider_id\n          traffic: 10\n          variants: {a: {model: eta, weight: 100}}\n"
E3 = E2.replace("e2:", "e3:")
SWITCHBACK = """\
  switchbacks:
    sb:
      unit: city
      slice: 30m
      seed: 7
      timezone: Asia/Shanghai
      regions: {beijing: Asia/Shanghai, riyadh: Asia/Riyadh}
      variants: {a: {model: eta}, b: {model: eta}}
"""
BASE = MINIMAL_SPEC.replace("experiments:\n  layers:", "experiments:\n" + SWITCHBACK + "  layers:") + E2 + E3


def edit(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Compile ``old`` into a baseline document, then ``new`` against it; the warnings."""
    monkeypatch.chdir(tmp_path)

    def run(old: str, new: str):
        (tmp_path / "s.mlc.yaml").write_text(old, encoding="utf-8")
        first = build("s.mlc.yaml")
        assert first.ok and first.diagnostics == [], first.diagnostics
        baseline = json.loads(json.dumps(document(first.ir)))
        (tmp_path / "s.mlc.yaml").write_text(new, encoding="utf-8")
        second = build("s.mlc.yaml", baseline=baseline)
        assert second.ok, second.diagnostics
        assert all(not d.is_error for d in second.diagnostics)
        return second.diagnostics
    return run


def at(text: str, needle: str) -> tuple[int, int]:
    offset = text.index(needle)
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def one(found, text: str, code: str, needle: str, message: str, hint: str):
    assert [d.code for d in found] == [code], [(d.code, d.message) for d in found]
    diag = found[0]
    assert (diag.span.file, diag.span.start.line, diag.span.start.col) == ("s.mlc.yaml",) + at(text, needle)
    assert diag.message == message
    assert diag.hint == hint


def test_unchanged_is_quiet(run):
    assert run(BASE, BASE) == []


def test_ramp_within_reserve_is_quiet(run):
    old = edit(BASE, ("traffic: 30", "traffic: 30\n          reserve: 40"))
    new = edit(old, ("traffic: 30", "traffic: 40"))
    assert run(old, new) == []


def test_new_experiment_and_model_change_are_quiet(run):
    new = edit(BASE, ("b: {model: eta, weight: 50}}", "b: {model: eta, version: 4, weight: 50}}")) + E2.replace("e2:", "e4:")
    assert run(BASE, new) == []


def test_ramp_past_reserve_moves_the_next_experiment(run):
    new = edit(BASE, ("traffic: 30", "traffic: 35"))
    found = run(BASE, new)
    assert [d.code for d in found] == ["W5105", "W5105"]
    one(found[:1], new, "W5105", "e2:", "the active range of running experiment `e2` moved from [30%, 40%) to "
        "[35%, 45%): 5% of the layer's units leave it",
        "pin `offset: 30` on `e2` to keep its units, or rename the experiment to start a new round on purpose")
    assert found[1].message.startswith("the active range of running experiment `e3` moved from [40%, 50%)")


def test_moved_experiment_with_a_pinned_offset_is_located_at_it(run):
    new = edit(BASE, ("traffic: 10\n          variants: {a: {model: eta, weight: 100}}\n        e3",
                      "traffic: 10\n          offset: 60\n          variants: {a: {model: eta, weight: 100}}\n        e3"))
    found = run(BASE, new)
    one(found[:1], new, "W5105", "60", "the active range of running experiment `e2` moved from [30%, 40%) to "
        "[60%, 70%): 10% of the layer's units leave it",
        "pin `offset: 30` on `e2` to keep its units, or rename the experiment to start a new round on purpose")


def test_removing_an_experiment_shifts_a_later_one(run):
    new = BASE.replace(E2, "")
    one(run(BASE, new), new, "W5105", "e3:", "the active range of running experiment `e3` moved from [40%, 50%) to "
        "[30%, 40%): 10% of the layer's units leave it",
        "pin `offset: 40` on `e3` to keep its units, or rename the experiment to start a new round on purpose")


def test_removing_the_last_experiment_is_quiet(run):
    assert run(BASE, BASE.replace(E3, "")) == []


def test_ramp_down(run):
    # e3 pinned where it was, so only e2 changes: it shrinks
    new = BASE.replace(E2, E2.replace("traffic: 10", "traffic: 5")).replace(E3, E3.replace("e3:\n", "e3:\n          offset: 40\n"))
    one(run(BASE, new), new, "W5105", "5\n", "the active range of running experiment `e2` shrank from [30%, 40%) to "
        "[30%, 35%): 5% of the layer's units leave it",
        "keep `traffic` at 10 or more while it runs (ramping down drops units), or rename the experiment to "
        "start a new round on purpose")


def test_stopping_an_experiment_is_quiet(run):
    assert run(BASE, BASE.replace(E3, E3.replace("traffic: 10", "traffic: 0"))) == []


def test_salt_change(run):
    new = edit(BASE, ("    ranking:\n", "    ranking:\n      salt: ranking_v2\n"))
    one(run(BASE, new), new, "W5104", "ranking_v2", "the salt of layer `ranking` changed from `ranking` to "
        "`ranking_v2`: every unit of running experiments `e1`, `e2`, `e3` is reshuffled",
        "keep `salt: ranking` while they run; to start a new round on purpose, rename the experiments too (or "
        "set their `traffic: 0`)")


def test_salt_change_after_renaming_is_quiet(run):
    new = edit(BASE, ("    ranking:\n", "    ranking:\n      salt: ranking_v2\n"), ("e1:", "f1:"), ("e2:", "f2:"), ("e3:", "f3:"))
    assert run(BASE, new) == []


def test_weight_change(run):
    new = edit(BASE, ("{a: {model: eta, weight: 50}, b: {model: eta, weight: 50}}",
                      "{a: {model: eta, weight: 60}, b: {model: eta, weight: 40}}"))
    one(run(BASE, new), new, "W5106", "variants: {a: {model: eta, weight: 60}", "the variant split of running "
        "experiment `e1` changed (variants a 50/b 50 -> a 60/b 40): its units switch variants",
        "keep the split while it runs, or rename the experiment to start a new round on purpose")


def test_holdout_and_unit_change(run):
    new = edit(BASE, ("traffic: 30", "traffic: 30\n          holdout: 10"), ("unit: rider_id\n          traffic: 30", "unit: city\n          traffic: 30"))
    found = [d for d in run(BASE, new) if d.code != "W5108"]
    one(found, new, "W5106", "city\n          traffic: 30", "the variant split of running experiment `e1` changed "
        "(unit `rider_id` -> `city`; holdout 0% -> 10%; variants a 50/b 50 -> a 50/b 50): its units switch variants",
        "keep the split while it runs, or rename the experiment to start a new round on purpose")


def test_switchback_seed_change(run):
    new = edit(BASE, ("seed: 7", "seed: 8"))
    one(run(BASE, new), new, "W5107", "8\n", "the schedule of switchback `sb` changed (seed 7 -> 8): its regions get "
        "other variants from now on",
        "keep the schedule while it runs, or rename the switchback to start a new round on purpose")


def test_switchback_weights_slice_and_timezone(run):
    new = edit(BASE, ("{a: {model: eta}, b: {model: eta}}", "{a: {model: eta, weight: 25}, b: {model: eta, weight: 75}}"),
               ("slice: 30m", "slice: 1h"), ("riyadh: Asia/Riyadh", "riyadh: Asia/Dubai, cairo: Africa/Cairo"))
    found = run(BASE, new)
    assert [d.code for d in found] == ["W5107"]
    assert found[0].message == ("the schedule of switchback `sb` changed (slice 1800s -> 3600s; tickets [1, 1] -> [1, 3]; "
                                "timezone of `riyadh` Asia/Riyadh -> Asia/Dubai): its regions get other variants from now on")
    assert found[0].span.start.line == at(new, "slice: 1h")[0]


def test_switchback_new_regions_and_burn_in_are_quiet(run):
    new = edit(BASE, ("riyadh: Asia/Riyadh", "riyadh: Asia/Riyadh, cairo: Africa/Cairo"), ("seed: 7", "seed: 7\n      burn_in: 5m"))
    assert run(BASE, new) == []


def test_compare_accepts_documents(tmp_path, monkeypatch):
    from mlc.core.diagnostics import DiagnosticBag
    from mlc.compiler.reporter import Reporter

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.mlc.yaml").write_text(BASE, encoding="utf-8")
    old = document(build("s.mlc.yaml").ir)
    new = json.loads(json.dumps(old))
    new["layers"][0]["salt"] = "other"
    bag = DiagnosticBag()
    compare(old, new, Reporter(None, bag))
    assert [(d.code, d.span) for d in bag.items] == [("W5104", None)]


# ------------------------------------------------------------------ loader


def test_load_baseline_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.mlc.yaml").write_text(BASE, encoding="utf-8")
    doc = document(build("s.mlc.yaml").ir)
    (tmp_path / "build" / "experiments").mkdir(parents=True)
    (tmp_path / "build" / "experiments" / "config.json").write_text(json.dumps(doc), encoding="utf-8")
    assert load_baseline(str(tmp_path / "build")) == (doc, None)
    assert load_baseline(str(tmp_path / "build" / "experiments" / "config.json")) == (doc, None)


@pytest.mark.parametrize("content, fragment", [
    (None, "does not exist"), ("{not json", "Expecting property name"), ('{"format": 2}', "format 2"),
    ('{"format": 1, "spec": "x"}', "config_version"),
])
def test_load_baseline_errors(tmp_path, content, fragment):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    doc, problem = load_baseline(str(path))
    assert doc is None and problem.code == "E6004" and problem.is_error
    assert problem.message.startswith("baseline cannot be read: ") and fragment in problem.message
    assert problem.hint == "name an `experiments/config.json` written by `mlc compile`, or the build folder holding it"


def test_load_baseline_folder_without_config(tmp_path):
    doc, problem = load_baseline(str(tmp_path))
    assert problem.message == f"baseline cannot be read: `{tmp_path}` has no experiments/config.json"


# --------------------------------------------------------------------- CLI


def test_compile_twice_uses_the_previous_build_as_baseline(tmp_path, mlc):
    spec = tmp_path / "s.mlc.yaml"
    spec.write_text(BASE, encoding="utf-8")
    first = mlc("compile", "s.mlc.yaml", "-o", "out", cwd=tmp_path)
    assert first.returncode == 0 and "warning" not in first.stderr, first.stderr
    second = mlc("compile", "s.mlc.yaml", "-o", "out", cwd=tmp_path)
    assert second.returncode == 0 and "warning" not in second.stderr, second.stderr
    salted = edit(BASE, ("    ranking:\n", "    ranking:\n      salt: ranking_v2\n"))
    spec.write_text(salted, encoding="utf-8")
    third = mlc("compile", "s.mlc.yaml", "-o", "out", cwd=tmp_path)
    line, col = at(salted, "ranking_v2")
    assert third.returncode == 0 and f"s.mlc.yaml:{line}:{col}: warning[W5104]" in third.stderr, third.stderr
    # the build was written: the next compile compares with the new salt and is quiet
    fourth = mlc("compile", "s.mlc.yaml", "-o", "out", cwd=tmp_path)
    assert fourth.returncode == 0 and "warning" not in fourth.stderr, fourth.stderr


def test_baseline_flag(tmp_path, mlc):
    spec = tmp_path / "s.mlc.yaml"
    spec.write_text(BASE, encoding="utf-8")
    assert mlc("compile", "s.mlc.yaml", "-o", "v1", cwd=tmp_path).returncode == 0
    spec.write_text(edit(BASE, ("seed: 7", "seed: 9")), encoding="utf-8")
    validate = mlc("validate", "s.mlc.yaml", "--baseline", "v1", cwd=tmp_path)
    assert validate.returncode == 0 and "warning[W5107]" in validate.stderr, validate.stderr
    compiled = mlc("compile", "s.mlc.yaml", "-o", "v2", "--baseline", "v1/experiments/config.json", cwd=tmp_path)
    assert compiled.returncode == 0 and "warning[W5107]" in compiled.stderr, compiled.stderr
    as_json = mlc("validate", "s.mlc.yaml", "--baseline", "v1", "--format", "json", cwd=tmp_path)
    assert as_json.returncode == 0 and '"W5107"' in as_json.stdout
    missing = mlc("validate", "s.mlc.yaml", "--baseline", "nowhere", cwd=tmp_path)
    assert missing.returncode == 1 and "error[E6004]: baseline cannot be read: `nowhere` does not exist" in missing.stderr


def test_unreadable_previous_build_is_a_warning(tmp_path, mlc):
    (tmp_path / "s.mlc.yaml").write_text(BASE, encoding="utf-8")
    assert mlc("compile", "s.mlc.yaml", "-o", "out", cwd=tmp_path).returncode == 0
    (tmp_path / "out" / "experiments" / "config.json").write_text('{"format": 99}', encoding="utf-8")
    again = mlc("compile", "s.mlc.yaml", "-o", "out", cwd=tmp_path)
    assert again.returncode == 0 and "warning[E6004]" in again.stderr and "compiling without a baseline" in again.stderr


# -------------------------------------------------------------- experiment


@pytest.mark.parametrize("argv, handler, fields", [
    (["experiment", "assign", "s.yaml", "--context", '{"user_id": 7}', "--at", "2024-07-01T00:00:00Z"], "cmd_assign",
     {"spec": "s.yaml", "context": '{"user_id": 7}', "at": "2024-07-01T00:00:00Z", "env": None, "format": "text"}),
    (["experiment", "schedule", "s.yaml", "sb", "--from", "2024-07-01", "--region", "a", "--region", "b", "--format", "csv"],
     "cmd_schedule", {"name": "sb", "from_": "2024-07-01", "to": None, "region": ["a", "b"], "format": "csv"}),
    (["experiment", "report", "s.yaml", "e1", "--exposures", "x.jsonl", "--outcomes", "o.csv", "--metric", "m1",
      "--metric", "m2", "--aggregate", "sum", "--confidence", "0.9", "--env", "prod"], "cmd_report",
     {"name": "e1", "exposures": "x.jsonl", "outcomes": "o.csv", "metric": ["m1", "m2"], "aggregate": "sum",
      "confidence": 0.9, "format": "text", "env": "prod"}),
])
def test_experiment_commands_dispatch(monkeypatch, argv, handler, fields):
    from mlc.cli import experiment as cli_experiment
    from mlc.cli import main as cli

    seen = {}
    monkeypatch.setattr(cli_experiment, handler, lambda args: seen.update(vars(args)) or 0)
    assert cli.main(argv) == 0
    assert {key: seen[key] for key in fields} == fields


def test_experiment_usage_errors(capsys):
    from mlc.cli import main as cli

    assert cli.main(["experiment"]) == 2
    with pytest.raises(SystemExit) as exit_:
        cli.main(["experiment", "schedule", "s.yaml", "sb", "--format", "xml"])
    assert exit_.value.code == 2
