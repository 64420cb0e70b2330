"""`mlc events push`: events appended to a `files` stream as ONE new file that appears whole
(`mlc.runtime.streaming.push`), from a file or stdin; unknown sources, batch-only sources and
Kafka streams are refused with a clear diagnostic; lines that are not JSON objects are counted in
a warning but written (the streaming job counts them as bad)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from specs import MINIMAL_SPEC

from mlc.runtime.streaming.push import not_objects, push_lines

STREAMS = """\
    stream: {kind: files, path: streams/orders}
  taps:
    kind: csv
    path: data/orders.csv
    event_time: ts
    columns: {ts: timestamp, rider_id: int64}
    stream: {kind: kafka, topic: rider-taps, bootstrap_servers: "kafka-1:9092"}
  history:
    kind: csv
    path: data/orders.csv
    event_time: ts
    columns: {ts: timestamp, rider_id: int64}
"""
ORDERS_COLUMNS = "    columns: {ts: timestamp, rider_id: int64, eta: float64, distance_km: float64, city: string, status: string}\n"


def stream_spec(root) -> str:
    """MINIMAL_SPEC with a `files` stream on `orders`, a Kafka source `taps` and a batch source."""
    assert ORDERS_COLUMNS in MINIMAL_SPEC
    (root / "s.mlc.yaml").write_text(MINIMAL_SPEC.replace(ORDERS_COLUMNS, ORDERS_COLUMNS + STREAMS, 1))
    return "s.mlc.yaml"


def mlc(cwd, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlc", *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})


# ------------------------------------------------------------------------------ push_lines


def test_push_writes_one_whole_file_per_push_in_push_order(tmp_path):
    folder = tmp_path / "streams" / "orders"              # created by the push
    first = push_lines(str(folder), ['{"a": 1}\n', '{"a": 2}'])
    second = push_lines(str(folder), ['{"a": 3}\r\n'])
    assert sorted(os.listdir(folder)) == [os.path.basename(first), os.path.basename(second)]   # no .tmp-* left
    for path in (first, second):
        name = os.path.basename(path)
        assert name.startswith("events-") and name.endswith(".jsonl") and os.path.dirname(path) == str(folder)
    assert open(first).read() == '{"a": 1}\n{"a": 2}\n'
    assert open(second).read() == '{"a": 3}\n'
    assert os.stat(first).st_mode & 0o044, "readable like any file open() creates (not mkstemp's 0600)"


def test_a_push_that_fails_midway_leaves_nothing(tmp_path):
    def lines():
        yield '{"a": 1}'
        raise RuntimeError("reader died")

    with pytest.raises(RuntimeError):
        push_lines(str(tmp_path), lines())
    assert os.listdir(tmp_path) == []


def test_not_objects_counts_lines_that_are_not_json_objects():
    assert not_objects(['{"a": 1}', "[1, 2]", "not json", "3", '"text"', '{"b": {}}']) == 4
    assert not_objects([]) == 0


# ------------------------------------------------------------------------------ the command


def test_push_from_a_file_and_from_stdin(tmp_path):
    spec = stream_spec(tmp_path)
    events = tmp_path / "events.jsonl"
    events.write_text('{"ts": "2024-06-01T00:00:00Z", "rider_id": 1}\n\n{"ts": "2024-06-01T00:00:01Z", "rider_id": 2}\n')
    from_file = mlc(tmp_path, "events", "push", spec, "orders", str(events))
    assert from_file.returncode == 0, from_file.stderr
    assert "pushed 2 event(s) to " in from_file.stdout and "warning" not in from_file.stderr
    from_stdin = mlc(tmp_path, "events", "push", spec, "orders", "-", stdin='{"ts": "2024-06-01T00:00:02Z"}\n')
    assert from_stdin.returncode == 0, from_stdin.stderr
    folder = tmp_path / "streams" / "orders"
    files = sorted(os.listdir(folder))
    assert len(files) == 2 and all(f.startswith("events-") for f in files)
    assert str(folder / files[1]) in from_stdin.stdout
    assert [json.loads(line)["rider_id"] for line in (folder / files[0]).read_text().splitlines()] == [1, 2]


def test_lines_that_are_not_json_objects_are_written_with_a_warning(tmp_path):
    spec = stream_spec(tmp_path)
    result = mlc(tmp_path, "events", "push", spec, "orders", "-", stdin='{"rider_id": 1}\nnot json\n[1]\n')
    assert result.returncode == 0, result.stderr
    assert "warning: 2 of 3 line(s) are not JSON objects" in result.stderr
    assert "pushed 3 event(s)" in result.stdout


def test_empty_input_writes_nothing(tmp_path):
    spec = stream_spec(tmp_path)
    result = mlc(tmp_path, "events", "push", spec, "orders", "-", stdin="\n\n")
    assert result.returncode == 0 and "nothing written" in result.stderr
    assert not (tmp_path / "streams" / "orders").exists()


def test_unknown_and_batch_only_sources_and_missing_files_are_errors(tmp_path):
    spec = stream_spec(tmp_path)
    unknown = mlc(tmp_path, "events", "push", spec, "ordres", "-", stdin="{}\n")
    assert unknown.returncode == 1 and "error[E7301]: unknown source `ordres`" in unknown.stderr
    assert "did you mean `orders`?" in unknown.stderr and "Traceback" not in unknown.stderr
    batch = mlc(tmp_path, "events", "push", spec, "history", "-", stdin="{}\n")
    assert batch.returncode == 1 and "source `history` has no `stream:`" in batch.stderr
    assert "`orders`" in batch.stderr                     # the sources that have one
    missing = mlc(tmp_path, "events", "push", spec, "orders", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 1 and "E7303" in missing.stderr and "nope.jsonl" in missing.stderr
    assert not (tmp_path / "streams").exists()


def test_a_kafka_stream_is_refused_naming_its_topic_and_servers(tmp_path):
    spec = stream_spec(tmp_path)
    result = mlc(tmp_path, "events", "push", spec, "taps", "-", stdin="{}\n")
    assert result.returncode == 1 and "error[E7302]" in result.stderr and "Traceback" not in result.stderr
    assert "rider-taps" in result.stderr and "kafka-1:9092" in result.stderr and "Kafka producer" in result.stderr
