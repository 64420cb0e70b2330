"""End to end on the delivery example: `mlc run` deploys it with its streaming job; events pushed
after the deploy change the features the gateway serves and its scores; `mlc status` shows the
stream; `mlc stop` stops it. Real parts throughout (Spark, TensorFlow, Triton, SQLite)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from conftest import run_mlc

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "delivery_eta"
ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}
RIDER = "r0014"


def _order(i: int, when: datetime) -> dict:
    return {"order_id": f"live{i}", "created_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "city": "beijing",
            "user_id": "u00101", "merchant_id": "m0013", "rider_id": RIDER, "weather": "sunny", "user_lat": 39.8,
            "user_lon": 116.4, "merchant_lat": 39.9, "merchant_lon": 116.37, "item_count": 2, "order_value": 20.0,
            "status": "delivered"}


def _score(url: str) -> float:
    item = {"user_id": "u00101", "rider_id": RIDER, "merchant_id": "m0013", "city": "beijing",
            "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "user_lat": 39.81873,
            "user_lon": 116.40434, "merchant_lat": 39.90038, "merchant_lon": 116.36901, "item_count": 2,
            "order_value": 20.0}
    request = urllib.request.Request(url, json.dumps({"items": [item]}).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        response = json.loads(answer.read())
    assert not response["degraded"], response
    return response["scores"][0]


def _rider_load(project: Path) -> dict:
    shown = run_mlc("features", "get", "delivery.mlc.yaml", "rider_load", RIDER, cwd=project)
    assert shown.returncode == 0, shown.stderr
    return {line.split()[0]: int(line.split()[1]) for line in shown.stdout.splitlines() if line.strip().startswith("assigned")}


def test_events_pushed_after_deploy_change_served_features_and_scores(tmp_path):
    project = tmp_path / "delivery"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".mlc", "streams", "__pycache__"))
    try:
        run = subprocess.run([sys.executable, "-m", "mlc", "run", "delivery.mlc.yaml", "--port", "0", "--epochs", "1"],
                             cwd=project, env={**os.environ, "NO_COLOR": "1", **ENV}, capture_output=True, text=True,
                             timeout=1500)
        assert run.returncode == 0, run.stderr[-4000:]
        assert "stream       ok" in run.stderr
        url = next(line.split()[-1] for line in run.stderr.splitlines() if line.strip().startswith("gateway "))
        # the batch data is from 2024: at request time every real-time window has slid past it
        assert _rider_load(project) == {"assigned_30m": 0, "assigned_1h": 0}
        before = _score(url)

        now = datetime.now(timezone.utc)
        events = tmp_path / "events.jsonl"
        events.write_text("".join(json.dumps(_order(i, now - timedelta(seconds=5 + i))) + "\n" for i in range(6))
                          + "not an event\n")
        pushed = run_mlc("events", "push", "delivery.mlc.yaml", "orders", str(events), cwd=project)
        assert pushed.returncode == 0, pushed.stderr
        deadline = time.monotonic() + 180
        while _rider_load(project)["assigned_30m"] != 6:
            assert time.monotonic() < deadline, "pushed events never became visible"
            time.sleep(0.5)
        assert _rider_load(project) == {"assigned_30m": 6, "assigned_1h": 6}
        assert _score(url) != before            # the gateway serves the new features

        status = run_mlc("status", "delivery.mlc.yaml", "--format", "json", cwd=project)
        assert status.returncode == 0, status.stderr
        stream = json.loads(status.stdout)["stream"]
        assert stream["job"]["running"]
        orders = stream["sources"]["orders"]
        assert orders["applied"] == 6 and orders["bad"]["not_json"] == 1
        assert stream["groups"]["rider_load"]["freshness_p99_s"] >= stream["groups"]["rider_load"]["freshness_p50_s"]
    finally:
        stopped = run_mlc("stop", "delivery.mlc.yaml", cwd=project)
    assert stopped.returncode == 0, stopped.stderr
    assert "stream" in stopped.stderr + stopped.stdout
    _consistency_names_the_stream_only_events(project)


def _consistency_names_the_stream_only_events(project: Path) -> None:
    """The gateway logged every request (the example's sample rate is 1.0; `mlc stop` flushed the
    log): `mlc consistency` recomputes them from the offline CSV, where the pushed events are not."""
    checked = run_mlc("consistency", "delivery.mlc.yaml", "--format", "json", "--output", "skew.json", cwd=project)
    assert checked.returncode == 1, checked.stderr            # the stream-only events are skew
    report = json.loads((project / "skew.json").read_text())
    assert report["log"]["accepted"] >= 3, report["log"]       # mlc run's score + two requests here
    features = {f["name"]: f for f in report["features"]}
    load = features["rider_load.assigned_30m"]
    assert load["rows_compared"] >= 3 and load["mismatches"] >= 1
    assert set(load["causes"]) == {"offline_lag"}, load        # online saw 6, the offline source none
    assert all(f["rows_compared"] > 0 for f in report["features"])
