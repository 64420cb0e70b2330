#!/usr/bin/env python3
"""Regenerate the sample data of the ctr_criteo example (stdlib only, deterministic).

    python examples/ctr_criteo/generate_data.py

Input: the 200-row Criteo display-ads sample. It is read from the shared data folder of the
checkout (``../../../shared/data/criteo_sample.txt`` relative to this script) when present, and a
verbatim copy is kept in ``data/criteo_sample.txt`` so the example also works without it.

Output: ``data/impressions.csv`` (2,000 ad impressions over 8 days, sorted by time):

* the 200 real rows (dense counts written as integers), plus 1,800 rows bootstrapped from
  them: dense counts jittered by a log-normal factor, about 30 % of the categorical values
  swapped with those of a random other row, and the real label of the originating row kept
  (8 % flipped as noise). Labels stay learnable from the real feature values without being
  trivially memorised: a per-feature CTR lookup fitted on the first 7 days reaches a
  validation AUC of about 0.6-0.8 on the 8th;
* synthetic ``user_id`` (500 users, Zipf-like activity, each with a click propensity that biases
  which impressions they receive, so per-user CTR features carry signal), ``ad_id`` (derived from
  the originating real row, 40 ads, so per-ad CTR carries signal) and ``event_ts`` (UTC, a
  diurnal traffic curve from 2024-06-01 to 2024-06-08).

The output is byte-identical on every run.
"""

from __future__ import annotations

import bisect
import csv
import io
import math
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED_SAMPLE = HERE / ".." / ".." / ".." / "shared" / "data" / "criteo_sample.txt"
LOCAL_SAMPLE = HERE / "data" / "criteo_sample.txt"
OUTPUT = HERE / "data" / "impressions.csv"

SEED = 20240601
TOTAL_ROWS = 2000
USERS = 500
ADS = 40
START = datetime(2024, 6, 1, tzinfo=timezone.utc)
DAYS = 8
DENSE = [f"i{k}" for k in range(1, 14)]
SPARSE = [f"c{k}" for k in range(1, 27)]


def read_sample() -> bytes:
    if SHARED_SAMPLE.is_file():
        data = SHARED_SAMPLE.read_bytes()
        if not LOCAL_SAMPLE.is_file() or LOCAL_SAMPLE.read_bytes() != data:
            LOCAL_SAMPLE.parent.mkdir(parents=True, exist_ok=True)
            LOCAL_SAMPLE.write_bytes(data)
        return data
    if LOCAL_SAMPLE.is_file():
        return LOCAL_SAMPLE.read_bytes()
    sys.exit(f"error: Criteo sample not found at {SHARED_SAMPLE} nor {LOCAL_SAMPLE}; "
             "restore data/criteo_sample.txt from git (`git checkout -- examples/ctr_criteo/data`)")


def parse_sample(data: bytes) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(data.decode("utf-8")))
    header = [name.lower() for name in next(reader)]
    expected = ["label"] + DENSE + SPARSE
    if header != expected:
        sys.exit(f"error: unexpected Criteo header {header[:5]}...")
    rows = []
    for record in reader:
        row = dict(zip(header, record))
        # Criteo dense features are integer counts written as `260.0`; keep them as integers.
        for name in DENSE:
            if row[name]:
                row[name] = str(int(float(row[name])))
        rows.append(row)
    return rows


def augment(base: dict[str, str], donors: list[dict[str, str]], rng: random.Random) -> dict[str, str]:
    row = dict(base)
    for name in DENSE:
        value = row[name]
        if value and rng.random() < 0.97:
            number = int(value)
            if number > 0:
                number = max(0, round(number * math.exp(rng.gauss(0.0, 0.25))))
            row[name] = str(number)
        elif value:
            row[name] = ""  # occasionally missing, as in the real logs
    for name in SPARSE:
        if rng.random() < 0.30:
            row[name] = rng.choice(donors)[name]
    if rng.random() < 0.08:
        row["label"] = "1" if row["label"] == "0" else "0"
    return row


class UserPool:
    """Users with Zipf-like activity and a click propensity; clicks go preferably to clicky users."""

    def __init__(self, rng: random.Random) -> None:
        activity = [1.0 / (rank + 5) ** 0.9 for rank in range(USERS)]
        rng.shuffle(activity)
        propensity = [rng.betavariate(2.0, 5.0) for _ in range(USERS)]
        self.cumulative = {}
        for label, affinity in (("1", propensity), ("0", [1.0 - p for p in propensity])):
            total, cumulative = 0.0, []
            for weight, share in zip(activity, affinity):
                total += weight * share
                cumulative.append(total)
            self.cumulative[label] = cumulative

    def pick(self, label: str, rng: random.Random) -> int:
        cumulative = self.cumulative[label]
        return 1 + bisect.bisect_right(cumulative, rng.random() * cumulative[-1])


def diurnal_time(rng: random.Random) -> datetime:
    """A time in the 8-day range; traffic peaks in the (UTC+8) evening, is lowest at night."""
    while True:
        seconds = rng.randrange(DAYS * 86400)
        local_hour = ((seconds // 3600) + 8) % 24
        weight = 0.25 + 0.75 * math.exp(-((local_hour - 20.5) ** 2) / 18.0) + 0.35 * (9 <= local_hour <= 18)
        if rng.random() < weight / 1.1:
            return START + timedelta(seconds=seconds)


def main() -> None:
    rng = random.Random(SEED)
    real = parse_sample(read_sample())
    ad_of_base = [1 + (index * 7919) % ADS for index in range(len(real))]

    drafts = []  # (base index, row)
    for index, row in enumerate(real):
        drafts.append((index, dict(row)))
    while len(drafts) < TOTAL_ROWS:
        index = rng.randrange(len(real))
        base = real[index]
        drafts.append((index, augment(base, real, rng)))

    users = UserPool(rng)
    out = []
    for index, row in drafts:
        timestamp = diurnal_time(rng)
        out.append((timestamp, users.pick(row["label"], rng), ad_of_base[index], row))
    out.sort(key=lambda item: (item[0], item[1], item[2]))

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["event_ts", "user_id", "ad_id", "clicked"] + DENSE + SPARSE)
    for timestamp, user_id, ad_id, row in out:
        writer.writerow([timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"), user_id, ad_id, row["label"]]
                        + [row[name] for name in DENSE] + [row[name] for name in SPARSE])
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(buffer.getvalue().encode("utf-8"))
    clicks = sum(1 for item in out if item[3]["label"] == "1")
    print(f"wrote {OUTPUT.relative_to(HERE)}: {len(out)} rows, CTR {clicks / len(out):.3f}")


if __name__ == "__main__":
    main()
