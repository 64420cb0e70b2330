"""The switchback schedule (docs/experiments.md "Switchback schedule (normative)"):
determinism, balance, randomisation, DST-safe slices, multi-day slices, burn-in, bounds, and the
committed test vectors (re-derived independently with hashlib and zoneinfo)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mlc.backends.experiments.config import ExperimentsConfig, SwitchbackConfig
from mlc.runtime.experiments.switchback import (
    Schedule, Slice, balance, day_start, schedule_rows, slice_at, ticket_order)

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "docs" / "experiments-schedule-vectors.json"
SCRIPT = REPO / "scripts" / "experiment_schedule_vectors.py"
UTC = timezone.utc
MINUTE = timedelta(minutes=1)
TINY = timedelta(microseconds=1)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def switchback(**overrides) -> SwitchbackConfig:
    """A switchback loaded through config.json (format 1), like the runtime does."""
    item = {
        "name": "dispatch_eta", "unit": "city", "slice_seconds": 1800, "burn_in_seconds": 300, "seed": 2024,
        "timezone": "Asia/Shanghai",
        "regions": {"beijing": "Asia/Shanghai", "riyadh": "Asia/Riyadh", "new_york": "America/New_York"},
        "start": "2024-07-01T00:00:00Z", "end": "2024-07-15T00:00:00Z", "control": "control",
        "targeting": None, "targeting_source": None, "tickets": [1, 1],
        "variants": [{"name": "control", "model": "eta_dnn", "version": None, "alias": None, "weight": 50.0},
                     {"name": "treatment", "model": "eta_wide_deep", "version": 3, "alias": None, "weight": 50.0}],
    }
    item.update(overrides)
    doc = {"format": 1, "spec": "delivery", "config_version": "0" * 16, "layers": [], "switchbacks": [item]}
    return ExperimentsConfig.from_json(doc).switchbacks[0]


def sequence(rows, region) -> list[str]:
    return [r["variant"] for r in rows if r["region"] == region]


def blocks(rows) -> dict[tuple[str, str], list[dict]]:
    grouped = defaultdict(list)
    for row in rows:
        grouped[(row["region"], row["block"])].append(row)
    return grouped


def assert_partition(slices: list[Slice], start: datetime, end: datetime) -> None:
    """Consecutive slices abut exactly and cover [start, end) with no instant skipped or repeated."""
    assert slices[0].start == start and slices[-1].end == end
    for before, after in zip(slices, slices[1:]):
        assert before.end == after.start and before.start < before.end


# ---------------------------------------------------------------- determinism

def test_two_schedules_are_identical():
    config = switchback()
    first = schedule_rows(config, config.start, config.end)
    assert first == schedule_rows(switchback(), config.start, config.end)
    a, b = Schedule(config), Schedule(switchback())
    for minutes in range(0, 14 * 24 * 60, 17):
        at = config.start + minutes * MINUTE
        assert a.assign("beijing", at) == b.assign("beijing", at)


def test_fresh_process_with_other_hash_seed_gives_the_same_schedule():
    config = switchback()
    rows = schedule_rows(config, config.start, config.end)
    code = ("import json, sys; sys.path.insert(0, %r); "
            "from test_experiments_switchback import switchback; "
            "from mlc.runtime.experiments.switchback import schedule_rows; "
            "c = switchback(); print(json.dumps(schedule_rows(c, c.start, c.end)))") % str(Path(__file__).parent)
    for hash_seed in ("0", "12345"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONHASHSEED": hash_seed}, cwd=REPO)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == rows


# ---------------------------------------------------------------- balance and randomisation

def test_fourteen_days_of_half_hours_are_exactly_balanced():
    config = switchback()
    rows = schedule_rows(config, config.start, config.end)
    assert balance(rows) == {region: {"control": 336, "treatment": 336}
                             for region in ("beijing", "new_york", "riyadh")}
    for (region, block), members in blocks(rows).items():
        assert len(members) == 2 and {m["variant"] for m in members} == {"control", "treatment"}, (region, block)


def test_one_to_three_tickets_are_exact_in_every_complete_block():
    config = switchback(tickets=[1, 3])
    rows = schedule_rows(config, config.start, config.end)
    complete = [m for m in blocks(rows).values() if len(m) == 4]
    # beijing and new_york start at local 08:00 and 20:00 (slice 16, 40: block boundaries); riyadh at
    # 03:00 (slice 6), so its first and last blocks are cut by the run's window
    assert len(complete) == 14 * 12 + 14 * 12 + (14 * 12 - 1)
    for members in complete:
        assert Counter(m["variant"] for m in members) == {"control": 1, "treatment": 3}
        assert [m["slice_index"] % 4 for m in members] == [0, 1, 2, 3]
    counts = balance(rows)
    assert counts["beijing"] == counts["new_york"] == {"control": 168, "treatment": 504}


def test_each_block_is_a_permutation_of_the_tickets():
    config = switchback(tickets=[2, 1, 3], variants=[
        {"name": n, "model": n, "weight": w} for n, w in (("a", 2), ("b", 1), ("c", 3))], slice_seconds=900)
    schedule = Schedule(config)
    for region in ("beijing", "riyadh"):
        day = day_start(date(2024, 7, 2), config.timezone_of(region))
        got = defaultdict(list)
        for slice_, variant in schedule.slices(region, day, day + timedelta(days=3)):
            got[slice_.block].append(variant.name)
        full = [names for names in got.values() if len(names) == 6]
        assert len(full) == 3 * 16
        assert all(sorted(names) == ["a", "a", "b", "c", "c", "c"] for names in full)
        assert len({tuple(names) for names in full}) > 10        # not one fixed pattern


def test_regions_and_seeds_get_different_schedules():
    config = switchback()
    rows = schedule_rows(config, config.start, config.end)
    other_seed = schedule_rows(switchback(seed=2025), config.start, config.end)
    other_name = schedule_rows(switchback(name="dispatch_eta_v2"), config.start, config.end)
    assert sequence(rows, "beijing") != sequence(rows, "riyadh")
    assert sequence(rows, "beijing") != sequence(other_seed, "beijing")
    assert sequence(rows, "beijing") != sequence(other_name, "beijing")
    # the same block labels in two regions are permuted independently
    orders = {region: [ticket_order(2024, "dispatch_eta", region, f"739068.{k}", 2) for k in range(48)]
              for region in ("beijing", "riyadh")}
    assert orders["beijing"] != orders["riyadh"]


def test_first_position_of_two_ticket_blocks_is_a_fair_coin():
    config = switchback(start=None, end=None)
    schedule = Schedule(config)
    start = day_start(date(2024, 1, 1), "Asia/Shanghai")
    firsts = [variant.name for slice_, variant in schedule.slices("beijing", start, start + timedelta(days=200))
              if slice_.position == 0]
    n = len(firsts)
    assert n == 200 * 24
    control = firsts.count("control")
    assert abs(control - n / 2) <= 4 * math.sqrt(n) / 2          # 4 sigma; the data are fixed
    # consecutive blocks are independent: the first variant repeats about half the time
    repeats = sum(a == b for a, b in zip(firsts, firsts[1:]))
    assert abs(repeats - (n - 1) / 2) <= 4 * math.sqrt(n - 1) / 2


def test_ticket_order_is_the_documented_sort():
    key = lambda j: (int.from_bytes(hashlib.sha256(f"7\x00sb\x00r\x00B\x00{j}".encode()).digest()[:8], "big"), j)
    assert ticket_order(7, "sb", "r", "B", 9) == sorted(range(9), key=key)
    assert sorted(ticket_order(7, "sb", "r", "B", 24)) == list(range(24))


# ---------------------------------------------------------------- DST and time zones

@pytest.mark.parametrize("zone, day, hours", [
    ("America/New_York", date(2024, 3, 10), 23), ("America/New_York", date(2024, 11, 3), 25),
    ("Europe/Berlin", date(2024, 3, 31), 23), ("Europe/Berlin", date(2024, 10, 27), 25),
    ("America/Santiago", date(2024, 9, 8), 23), ("America/Santiago", date(2024, 4, 6), 25),
    ("Asia/Beirut", date(2024, 3, 31), 23), ("Asia/Beirut", date(2024, 10, 26), 25),
    ("America/Havana", date(2024, 11, 3), 25), ("Asia/Kolkata", date(2024, 7, 1), 24),
])
def test_dst_days_have_more_or_fewer_half_hour_slices(zone, day, hours):
    schedule = Schedule(switchback(regions={"r": zone}, start=None, end=None))
    start, end = day_start(day, zone), day_start(day + timedelta(days=1), zone)
    assert end - start == timedelta(hours=hours)
    slices = [s for s, _ in schedule.slices("r", start, end)]
    assert len(slices) == 2 * hours
    assert [s.index for s in slices] == list(range(2 * hours))
    assert {s.local_date for s in slices} == {day}
    assert_partition(slices, start, end)


def test_new_york_dst_slices_in_utc():
    assert day_start(date(2024, 3, 10), "America/New_York") == utc(2024, 3, 10, 5)
    assert day_start(date(2024, 3, 11), "America/New_York") == utc(2024, 3, 11, 4)
    assert day_start(date(2024, 11, 4), "America/New_York") == utc(2024, 11, 4, 5)
    # 2024-03-10 local 01:30-03:00 EST is slice 3; the next slice is 03:00 EDT (07:00Z)
    third = slice_at(utc(2024, 3, 10, 6, 45), "America/New_York", 1800, 2)
    assert (third.index, third.start, third.end) == (3, utc(2024, 3, 10, 6, 30), utc(2024, 3, 10, 7))
    assert slice_at(utc(2024, 3, 10, 7), "America/New_York", 1800, 2).index == 4
    # 2024-11-03 the repeated local 01:00-02:00 gets slices 2, 3 (EDT) and 4, 5 (EST)
    repeated = [slice_at(utc(2024, 11, 3, 5) + k * timedelta(minutes=30), "America/New_York", 1800, 2).index
                for k in range(4)]
    assert repeated == [2, 3, 4, 5]


@pytest.mark.parametrize("zone, day, expected", [
    ("America/Santiago", date(2024, 9, 8), utc(2024, 9, 8, 4)),     # 00:00 -04 -> 01:00 -03
    ("Asia/Beirut", date(2024, 3, 31), utc(2024, 3, 30, 22)),       # 00:00 +02 -> 01:00 +03
    ("America/Havana", date(2024, 3, 10), utc(2024, 3, 10, 5)),     # 00:00 -05 -> 01:00 -04
])
def test_missing_midnight_starts_the_day_at_the_end_of_the_gap(zone, day, expected):
    start = day_start(day, zone)
    assert start == expected
    assert start.astimezone(ZoneInfo(zone)).date() == day
    assert (start - timedelta(seconds=1)).astimezone(ZoneInfo(zone)).date() == day - timedelta(days=1)
    assert start.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "01:00"


def test_repeated_midnight_starts_the_day_at_its_first_occurrence():
    # Havana 2024-11-03: 01:00 CDT -> 00:00 CST, local midnight happens twice
    start = day_start(date(2024, 11, 3), "America/Havana")
    assert start == utc(2024, 11, 3, 4)
    assert day_start(date(2024, 11, 4), "America/Havana") - start == timedelta(hours=25)


def test_a_skipped_day_has_no_slices():
    # Samoa skipped 2011-12-30 (UTC-10 -> UTC+14)
    assert day_start(date(2011, 12, 30), "Pacific/Apia") == day_start(date(2011, 12, 31), "Pacific/Apia")
    schedule = Schedule(switchback(regions={"apia": "Pacific/Apia"}, start=None, end=None, slice_seconds=3600))
    start, end = day_start(date(2011, 12, 29), "Pacific/Apia"), day_start(date(2012, 1, 1), "Pacific/Apia")
    slices = [s for s, _ in schedule.slices("apia", start, end)]
    assert [s.local_date for s in slices] == [date(2011, 12, 29)] * 24 + [date(2011, 12, 31)] * 24
    assert_partition(slices, start, end)


@pytest.mark.parametrize("zone, around", [
    ("America/New_York", utc(2024, 3, 10, 7)), ("America/New_York", utc(2024, 11, 3, 6)),
    ("Europe/Berlin", utc(2024, 3, 31, 1)), ("Europe/Berlin", utc(2024, 10, 27, 1)),
    ("America/Santiago", utc(2024, 9, 8, 4)), ("America/Santiago", utc(2024, 4, 7, 3)),
    ("Asia/Beirut", utc(2024, 3, 30, 22)), ("Asia/Beirut", utc(2024, 10, 26, 21)),
    ("Australia/Lord_Howe", utc(2024, 10, 5, 15, 30)),
])
@pytest.mark.parametrize("slice_seconds", [900, 1800, 7200, 86400])
def test_every_minute_across_a_transition_is_in_exactly_one_slice(zone, around, slice_seconds):
    previous = None
    for minute in range(-6 * 60, 6 * 60):
        at = around + minute * MINUTE
        current = slice_at(at, zone, slice_seconds, 3, "r")
        assert current.start <= at < current.end
        assert current.start.tzinfo is not None and current.start.utcoffset() == timedelta(0)
        if previous is not None and current != previous:
            assert current.start == previous.end              # nothing skipped, nothing overlaps
        previous = current


# ---------------------------------------------------------------- multi-day and odd offsets

def test_one_day_slices_are_local_days():
    zone = "Europe/London"
    schedule = Schedule(switchback(regions={"london": zone}, slice_seconds=86400, tickets=[1, 1],
                                   start=None, end=None))
    start, end = day_start(date(2024, 3, 25), zone), day_start(date(2024, 4, 8), zone)
    slices = [s for s, _ in schedule.slices("london", start, end)]
    assert len(slices) == 14
    assert_partition(slices, start, end)
    for s in slices:
        assert s.index == s.local_date.toordinal() and s.block == str(s.index // 2) and s.position == s.index % 2
        assert s.start == day_start(s.local_date, zone)
    assert slices[6].end - slices[6].start == timedelta(hours=23)  # 2024-03-31 BST starts
    rows = [{"region": "london", "variant": v.name} for _, v in schedule.slices("london", start, end)]
    assert balance(rows) == {"london": {"control": 7, "treatment": 7}}


def test_two_day_slices_in_kolkata():
    zone = "Asia/Kolkata"
    schedule = Schedule(switchback(regions={"mumbai": zone}, slice_seconds=2 * 86400, tickets=[1, 3],
                                   start=None, end=None))
    found = schedule.slice_at("mumbai", utc(2024, 7, 3, 12))
    s = date(2024, 7, 3).toordinal() // 2
    assert found.index == s and found.block == str(s // 4) and found.position == s % 4
    assert found.local_date == date.fromordinal(2 * s)
    assert found.start == day_start(date.fromordinal(2 * s), zone)
    assert found.start.astimezone(ZoneInfo(zone)).strftime("%H:%M %z") == "00:00 +0530"
    assert found.end - found.start == timedelta(days=2)
    start = day_start(date.fromordinal(8 * (s // 4)), zone)          # a block boundary
    got = [(sl, v.name) for sl, v in schedule.slices("mumbai", start, start + timedelta(days=64))]
    assert len(got) == 32 and all(sl.end - sl.start == timedelta(days=2) for sl, _ in got)
    for k in range(0, 32, 4):
        assert Counter(name for _, name in got[k:k + 4]) == {"control": 1, "treatment": 3}


def test_hour_slices_in_kolkata_start_at_half_past_utc():
    zone = "Asia/Kolkata"
    schedule = Schedule(switchback(regions={"mumbai": zone}, slice_seconds=3600, start=None, end=None))
    found = schedule.slice_at("mumbai", utc(2024, 7, 1, 10, 10))
    assert (found.start, found.end, found.index, found.local_date) == \
        (utc(2024, 7, 1, 9, 30), utc(2024, 7, 1, 10, 30), 15, date(2024, 7, 1))
    day = day_start(date(2024, 7, 1), zone)
    slices = [s for s, _ in schedule.slices("mumbai", day, day + timedelta(days=1))]
    assert len(slices) == 24 and all(s.start.minute == 30 for s in slices)


def test_slice_lengths_that_neither_divide_nor_are_days_are_refused():
    for bad in (7000, 90000, 0, -1800):
        with pytest.raises(ValueError):
            slice_at(utc(2024, 7, 1), "UTC", bad, 2)
        with pytest.raises(ValueError):
            Schedule(switchback(slice_seconds=bad))


# ---------------------------------------------------------------- burn-in and bounds

def test_burn_in_is_exactly_the_first_seconds_of_each_slice():
    schedule = Schedule(switchback(burn_in_seconds=300))
    slice_, _, flag = schedule.assign("beijing", utc(2024, 7, 2, 3, 7))
    assert flag is False
    assert schedule.assign("beijing", slice_.start)[2] is True
    assert schedule.assign("beijing", slice_.start + timedelta(seconds=300) - TINY)[2] is True
    assert schedule.assign("beijing", slice_.start + timedelta(seconds=300))[2] is False
    assert schedule.assign("beijing", slice_.end - TINY)[2] is False
    assert schedule.assign("beijing", slice_.end)[2] is True
    for second in range(0, 2 * 3600, 20):
        at = utc(2024, 7, 3) + timedelta(seconds=second)
        got, _, flag = schedule.assign("new_york", at)
        assert flag == ((at - got.start) < timedelta(seconds=300))
        assert flag == (second % 1800 < 300)
    assert Schedule(switchback(burn_in_seconds=0)).assign("beijing", slice_.start)[2] is False


def test_start_end_and_uncovered_regions():
    config = switchback()
    schedule = Schedule(config)
    assert schedule.assign("beijing", config.start - TINY) is None
    assert schedule.assign("beijing", config.start) is not None
    assert schedule.assign("beijing", config.end - TINY) is not None
    assert schedule.assign("beijing", config.end) is None
    assert schedule.assign("shanghai", utc(2024, 7, 3)) is None
    assert schedule.slice_at("shanghai", utc(2024, 7, 3)) is None
    assert list(schedule.slices("shanghai", config.start, config.end)) == []
    # slice_at ignores the run's window (analysis places rows outside it)
    assert schedule.slice_at("beijing", utc(2023, 1, 1)) is not None
    # empty regions: every region, in the default timezone; an open end
    everywhere = Schedule(switchback(regions={}, end=None))
    got, _, _ = everywhere.assign("anywhere", utc(2030, 1, 1, 0, 10))
    assert got.region == "anywhere" and got.start == utc(2030, 1, 1)
    assert everywhere.assign(42, utc(2030, 1, 1))[0].region == "42"      # int regions hash as decimal
    assert everywhere.assign("anywhere", utc(2024, 6, 30)) is None


def test_naive_datetimes_are_utc():
    schedule = Schedule(switchback())
    aware = utc(2024, 7, 4, 13, 45)
    assert schedule.assign("riyadh", aware.replace(tzinfo=None)) == schedule.assign("riyadh", aware)
    assert slice_at(aware.replace(tzinfo=None), "Asia/Riyadh", 1800, 2) == slice_at(aware, "Asia/Riyadh", 1800, 2)
    other_zone = aware.astimezone(ZoneInfo("America/New_York"))
    assert schedule.assign("riyadh", other_zone) == schedule.assign("riyadh", aware)


def test_assign_matches_the_slice_computed_alone():
    """The per-region cache of the latest slice never changes an answer."""
    config = switchback(tickets=[1, 3])
    schedule = Schedule(config)
    for minutes in list(range(0, 3 * 1440, 7)) + list(range(3 * 1440, 0, -11)):
        at = config.start + minutes * MINUTE
        for region in ("beijing", "new_york"):
            got, variant, _ = schedule.assign(region, at)
            alone = slice_at(at, config.timezone_of(region), 1800, 4, region)
            assert got == alone and variant == Schedule(config).variant_of(alone)


# ---------------------------------------------------------------- schedule rows

def test_schedule_rows():
    config = switchback()
    rows = schedule_rows(config, utc(2024, 6, 1), utc(2024, 7, 1, 1), regions=["new_york"])
    assert [r["start"] for r in rows] == ["2024-07-01T00:00:00Z", "2024-07-01T00:30:00Z"]  # clipped to the run
    first = rows[0]
    assert set(first) == {"region", "slice_index", "block", "start", "end", "local_start", "variant", "model",
                          "version", "alias", "burn_in_end"}
    assert first["local_start"] == "2024-06-30T20:00:00-04:00" and first["end"] == "2024-07-01T00:30:00Z"
    assert first["burn_in_end"] == "2024-07-01T00:05:00Z"
    assert first["slice_index"] == 40 and first["block"] == f"{date(2024, 6, 30).toordinal()}.20"
    variant = config.variant(first["variant"])
    assert (first["model"], first["version"], first["alias"]) == (variant.model, variant.version, variant.alias)
    every = schedule_rows(config, None, None)
    assert [r["region"] for r in every][::672] == ["beijing", "new_york", "riyadh"]
    with pytest.raises(ValueError, match="does not cover"):
        schedule_rows(config, config.start, config.end, regions=["paris"])
    with pytest.raises(ValueError, match="every region"):
        schedule_rows(switchback(regions={}), config.start, config.end)
    assert len(schedule_rows(switchback(regions={}), config.start, config.start + timedelta(hours=2),
                             regions=["x", "y"])) == 8
    with pytest.raises(ValueError):
        schedule_rows(switchback(end=None), config.start, None)


# ---------------------------------------------------------------- test vectors

def _load_script():
    spec = importlib.util.spec_from_file_location("experiment_schedule_vectors", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vectors_file_is_up_to_date():
    assert VECTORS.read_text(encoding="utf-8") == _load_script().render() + "\n", \
        "run .venv/bin/python scripts/experiment_schedule_vectors.py"


# An independent, deliberately plain re-implementation of the normative text.

def ref_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def ref_day_start(day: date, zone: str) -> datetime:
    """Scan minute by minute for the first instant whose local date is `day` (or later)."""
    zi = ZoneInfo(zone)
    at = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=16)
    while at.astimezone(zi).date() < day:
        at += MINUTE
    return at


def ref_variant(case: dict, block: str, position: int) -> str:
    total = sum(case["tickets"])
    prefix = f"{case['seed']}\x00{case['switchback']}\x00{case['region']}\x00{block}\x00"
    order = sorted(range(total), key=lambda j: (ref_hash(prefix + str(j)), j))
    tickets = [k for k, count in enumerate(case["tickets"]) for _ in range(count)]
    return case["variants"][tickets[order[position]]]


def ref_slices(case: dict) -> list[dict]:
    def iso(at: datetime) -> str:
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")

    lo = datetime.fromisoformat(case["from"].replace("Z", "+00:00"))
    hi = datetime.fromisoformat(case["to"].replace("Z", "+00:00"))
    zone, seconds, total = case["timezone"], case["slice_seconds"], sum(case["tickets"])
    out = []
    first, last = lo.date().toordinal() - 2, hi.date().toordinal() + 2
    if seconds % 86400 == 0:
        n = seconds // 86400
        for s in range(first // n, last // n + 1):
            start = ref_day_start(date.fromordinal(n * s), zone)
            end = ref_day_start(date.fromordinal(n * (s + 1)), zone)
            if start < hi and end > lo:
                out.append({"index": s, "block": str(s // total), "position": s % total, "start": iso(start),
                            "end": iso(end), "local_date": date.fromordinal(n * s).isoformat(),
                            "variant": ref_variant(case, str(s // total), s % total)})
        return out
    for ordinal in range(first, last):
        day = date.fromordinal(ordinal)
        begin, following = ref_day_start(day, zone), ref_day_start(day + timedelta(days=1), zone)
        i = 0
        while begin + i * timedelta(seconds=seconds) < following:
            start = begin + i * timedelta(seconds=seconds)
            end = min(start + timedelta(seconds=seconds), following)
            if start < hi and end > lo:
                block = f"{ordinal}.{i // total}"
                out.append({"index": i, "block": block, "position": i % total, "start": iso(start),
                            "end": iso(end), "local_date": day.isoformat(),
                            "variant": ref_variant(case, block, i % total)})
            i += 1
    return out


def test_vectors_agree_with_an_independent_implementation():
    doc = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert len(doc["schedules"]) >= 8 and all(case["slices"] for case in doc["schedules"])
    for case in doc["schedules"]:
        assert case["slices"] == ref_slices(case), (case["switchback"], case["timezone"], case["slice_seconds"])
    for item in doc["day_starts"]:
        expected = ref_day_start(date.fromisoformat(item["day"]), item["timezone"])
        assert item["start"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ"), item
    for item in doc["ticket_orders"]:
        prefix = f"{item['seed']}\x00{item['switchback']}\x00{item['region']}\x00{item['block']}\x00"
        assert item["order"] == sorted(range(item["total"]), key=lambda j: (ref_hash(prefix + str(j)), j))
