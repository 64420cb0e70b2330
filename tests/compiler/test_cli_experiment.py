"""`mlc experiment assign|schedule|report` as users run them (separate processes), on the
examples: schedules are balanced and agree with the runtime, assignments agree with the
Assigner the gateway uses, and a report on synthetic logs recovers a known effect."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import datetime, timedelta, timezone

from conftest import EXAMPLES, run_mlc

from mlc.backends.experiments.emit import emit
from mlc.compiler.pipeline import build
from mlc.runtime.experiments.assigner import Assigner
from mlc.backends.experiments.config import ExperimentsConfig
from mlc.runtime.experiments.exposures import ExposureLog
from mlc.runtime.experiments.switchback import Schedule

DELIVERY = str(EXAMPLES / "delivery_eta" / "delivery.mlc.yaml")
CTR = str(EXAMPLES / "ctr_criteo" / "ctr.mlc.yaml")


def config_of(spec: str) -> ExperimentsConfig:
    result = build(spec)
    assert result.ok
    (text,) = emit(result.ir).values()
    return ExperimentsConfig.from_json(json.loads(text))


def test_schedule_is_balanced_and_is_what_the_runtime_assigns():
    result = run_mlc("experiment", "schedule", DELIVERY, "dispatch_eta", "--from", "2024-07-01T00:00:00Z",
                     "--to", "2024-07-03T00:00:00Z", "--region", "beijing", "--region", "riyadh", "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["balance"] == {"beijing": {"control": 48, "treatment": 48}, "riyadh": {"control": 48, "treatment": 48}}
    schedule = Schedule(config_of(DELIVERY).find("dispatch_eta"))
    beijing = [row for row in doc["slices"] if row["region"] == "beijing"]
    assert len(beijing) == 96
    for row, following in zip(beijing, beijing[1:]):
        assert row["end"] == following["start"]                       # slices abut
    for row in doc["slices"]:
        start = datetime.fromisoformat(row["start"].replace("Z", "+00:00"))
        _, variant, burn_in = schedule.assign(row["region"], start + timedelta(minutes=10))
        assert variant.name == row["variant"] and not burn_in
    # local clock alignment: Riyadh is UTC+3, so its slices start on the local half hour
    assert all(r["local_start"][14:16] in ("00", "30") and r["local_start"].endswith("+03:00")
               for r in doc["slices"] if r["region"] == "riyadh")


def test_schedule_text_and_csv():
    args = ("experiment", "schedule", DELIVERY, "dispatch_eta", "--from", "2024-07-01T00:00:00Z",
            "--to", "2024-07-01T06:00:00Z", "--region", "hong_kong")
    text = run_mlc(*args)
    assert text.returncode == 0, text.stderr
    assert "slices per variant:" in text.stdout and "hong_kong: control 6, treatment 6" in text.stdout
    table = run_mlc(*args, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert len(rows) == 12 and {"region", "start", "variant", "model"} <= set(rows[0])


def test_schedule_errors_are_located_diagnostics():
    unknown = run_mlc("experiment", "schedule", DELIVERY, "dispatch_ta", "--from", "2024-07-01T00:00:00Z",
                      "--to", "2024-07-02T00:00:00Z")
    assert unknown.returncode == 1 and "E7009" in unknown.stderr and "dispatch_eta" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    layer = run_mlc("experiment", "schedule", DELIVERY, "dnn_vs_wide_deep")
    assert layer.returncode == 1 and "is a layer experiment, not a switchback" in layer.stderr
    region = run_mlc("experiment", "schedule", DELIVERY, "dispatch_eta", "--region", "bejing")
    assert region.returncode == 1 and "does not cover region `bejing`" in region.stderr and "beijing" in region.stderr
    bad_time = run_mlc("experiment", "schedule", DELIVERY, "dispatch_eta", "--from", "yesterday")
    assert bad_time.returncode == 1 and "E7004" in bad_time.stderr


def test_assign_agrees_with_the_gateways_assigner():
    at = "2024-07-02T10:07:00Z"
    context = {"user_id": 7, "city": "beijing"}
    result = run_mlc("experiment", "assign", DELIVERY, "--context", json.dumps(context), "--at", at, "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    expected = Assigner(config_of(DELIVERY)).assign(context, datetime(2024, 7, 2, 10, 7, tzinfo=timezone.utc))
    assert [(a["experiment"], a["variant"]) for a in doc["assignments"]] == [(a.experiment, a.variant) for a in expected]
    assert doc["assignments"][0]["kind"] == "switchback" and doc["assignments"][0]["routed"] is True
    assert sum(a["routed"] for a in doc["assignments"]) == 1
    text = run_mlc("experiment", "assign", DELIVERY, "--context", json.dumps(context), "--at", at)
    assert "dispatch_eta" in text.stdout and "<- routes" in text.stdout
    bad = run_mlc("experiment", "assign", DELIVERY, "--context", "{user_id: 7}")
    assert bad.returncode == 1 and "E7011" in bad.stderr and "Traceback" not in bad.stderr


def test_report_recovers_a_known_effect_from_the_gateways_logs(tmp_path):
    config = config_of(CTR)
    experiment = config.find("lr_vs_deepfm")
    assigner = Assigner(config)
    rng = random.Random(3)
    at = datetime(2024, 7, 1, tzinfo=timezone.utc)
    exposures = tmp_path / "exposures.jsonl"
    outcomes = [["unit_id", "clicks", "spend"]]
    with ExposureLog(str(exposures)) as log:
        for user in range(30_000):
            assignments = [a for a in assigner.assign({"user_id": user}, at) if a.experiment == experiment.name]
            if not assignments:
                continue
            log.write_all(assignments, ts=at, request_id=None, config_version=config.config_version,
                          routed_assignment=assignments[0], shard="main")
            effect = 0.3 if assignments[0].variant == "treatment" else 0.0
            outcomes.append([user, round(rng.gauss(1.0 + effect, 1.0), 6), round(rng.gauss(5.0, 2.0), 6)])
    outcome_path = tmp_path / "outcomes.csv"
    outcome_path.write_text("\n".join(",".join(map(str, row)) for row in outcomes) + "\n")
    result = run_mlc("experiment", "report", CTR, "lr_vs_deepfm", "--exposures", str(exposures),
                     "--outcomes", str(outcome_path), "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["warnings"] == [] and doc["srm"]["p"] > 0.001
    clicks = next(m for m in doc["metrics"] if m["metric"] == "clicks")
    treatment = next(c for c in clicks["comparisons"] if c["group"] == "treatment")
    low, high = treatment["ci"]
    assert low < 0.3 < high and low > 0
    spend = next(m for m in doc["metrics"] if m["metric"] == "spend")
    low, high = next(c for c in spend["comparisons"] if c["group"] == "treatment")["ci"]
    assert low < 0 < high                                          # no effect on spend
    text = run_mlc("experiment", "report", CTR, "lr_vs_deepfm", "--exposures", str(exposures),
                   "--outcomes", str(outcome_path), "--metric", "clicks")
    assert text.returncode == 0 and "clicks" in text.stdout and "spend" not in text.stdout


def test_report_warns_loudly_on_a_sample_ratio_mismatch(tmp_path):
    config = config_of(CTR)
    assigner = Assigner(config)
    at = datetime(2024, 7, 1, tzinfo=timezone.utc)
    exposures = tmp_path / "exposures.jsonl"
    rows = ["unit_id,clicks"]
    with ExposureLog(str(exposures)) as log:
        dropped = 0
        for user in range(30_000):
            assignments = [a for a in assigner.assign({"user_id": user}, at) if a.experiment == "lr_vs_deepfm"]
            if not assignments:
                continue
            if assignments[0].variant == "treatment" and dropped < 400:     # a logging bug loses treatment units
                dropped += 1
                continue
            log.write_all(assignments, ts=at, request_id=None, config_version=config.config_version,
                          routed_assignment=None, shard="main")
            rows.append(f"{user},1")
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("\n".join(rows) + "\n")
    result = run_mlc("experiment", "report", CTR, "lr_vs_deepfm", "--exposures", str(exposures),
                     "--outcomes", str(outcomes))
    assert result.returncode == 0
    assert result.stdout.startswith("WARNING:") and "SAMPLE RATIO MISMATCH" in result.stdout


def test_report_input_problems_are_diagnostics(tmp_path):
    exposures = tmp_path / "exposures.jsonl"
    exposures.write_text('{"experiment": "lr_vs_deepfm"}\nnot json\n')
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("unit_id,clicks\n1,1\n")
    result = run_mlc("experiment", "report", CTR, "lr_vs_deepfm", "--exposures", str(exposures),
                     "--outcomes", str(outcomes))
    assert result.returncode == 1 and "E7010" in result.stderr and ":2:" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_mlc("experiment", "report", CTR, "lr_vs_deepfm", "--exposures", str(tmp_path / "nope.jsonl"),
                      "--outcomes", str(outcomes))
    assert missing.returncode == 1 and "E7010" in missing.stderr
