"""Regenerate docs/experiments-schedule-vectors.json: test vectors of the switchback schedule
(docs/experiments.md "Switchback schedule (normative)") for implementations in other languages.

    .venv/bin/python scripts/experiment_schedule_vectors.py           # rewrite the file
    .venv/bin/python scripts/experiment_schedule_vectors.py --check   # exit 1 when it is stale

The vectors are computed by mlc.runtime.experiments.switchback; tests/runtime/
test_experiments_switchback.py checks the committed file equals a regeneration and re-derives a
few of them independently. Only 2024 transitions of well-established zones (plus the Samoa
2011 skipped day) are used, so tz database updates do not change them.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, timezone
from pathlib import Path

from mlc.backends.experiments.config import SwitchbackConfig, VariantConfig
from mlc.runtime.experiments.switchback import Schedule, day_start, iso_utc, ticket_order

PATH = Path(__file__).resolve().parent.parent / "docs" / "experiments-schedule-vectors.json"
VARIANTS = ("control", "treatment", "treatment_b")

DAY_STARTS = [  # (zone, local day): DST days, midnights that do not exist or repeat, a skipped day
    ("America/New_York", "2024-03-10"), ("America/New_York", "2024-03-11"),
    ("America/New_York", "2024-11-03"), ("America/New_York", "2024-11-04"),
    ("Europe/Berlin", "2024-03-31"), ("Europe/Berlin", "2024-10-27"),
    ("America/Santiago", "2024-09-08"), ("America/Santiago", "2024-04-07"),
    ("Asia/Beirut", "2024-03-31"), ("Asia/Beirut", "2024-10-27"),
    ("America/Havana", "2024-03-10"), ("America/Havana", "2024-11-03"),
    ("Asia/Kolkata", "2024-07-01"), ("Australia/Lord_Howe", "2024-10-06"),
    ("Pacific/Apia", "2011-12-30"), ("Pacific/Apia", "2011-12-31"),
]

TICKET_ORDERS = [  # (seed, switchback, region, block, T)
    (2024, "dispatch_eta", "beijing", "739068.0", 2),
    (2024, "dispatch_eta", "beijing", "739068.1", 2),
    (2024, "dispatch_eta", "riyadh", "739068.0", 2),
    (7, "surge", "new_york", "739071.3", 3),
    (7, "surge", "new_york", "739071.4", 4),
    (0, "pricing", "", "369534", 4),
    (-5, "pricing", "42", "184767", 7),
    (123456789, "dispatch_eta", "北京", "739068.11", 24),
]

SCHEDULES = [  # (name, seed, slice_seconds, burn_in_seconds, tickets, region, zone, from, to)
    ("dispatch_eta", 2024, 1800, 300, (1, 1), "beijing", "Asia/Shanghai",
     "2024-06-30T16:00:00Z", "2024-07-01T16:00:00Z"),
    ("surge", 7, 1800, 120, (1, 1), "new_york", "America/New_York",
     "2024-03-10T05:00:00Z", "2024-03-11T04:00:00Z"),
    ("surge", 7, 3600, 600, (1, 3), "new_york", "America/New_York",
     "2024-11-03T04:00:00Z", "2024-11-04T05:00:00Z"),
    ("surge", 7, 900, 60, (2, 1), "berlin", "Europe/Berlin",
     "2024-10-26T22:00:00Z", "2024-10-27T05:00:00Z"),
    ("fleet", 11, 7200, 0, (1, 1, 1), "santiago", "America/Santiago",
     "2024-09-07T04:00:00Z", "2024-09-09T03:00:00Z"),
    ("fleet", 11, 3600, 300, (1, 1), "beirut", "Asia/Beirut",
     "2024-10-26T18:00:00Z", "2024-10-27T02:00:00Z"),
    ("fleet", 11, 3600, 300, (1, 1), "mumbai", "Asia/Kolkata",
     "2024-06-30T18:30:00Z", "2024-07-01T18:30:00Z"),
    ("pricing", 0, 86400, 3600, (1, 1), "london", "Europe/London",
     "2024-03-25T00:00:00Z", "2024-04-08T00:00:00Z"),
    ("pricing", 3, 172800, 0, (1, 3), "mumbai", "Asia/Kolkata",
     "2024-07-01T00:00:00Z", "2024-07-17T00:00:00Z"),
]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _config(name, seed, slice_seconds, burn_in, tickets, region, zone) -> SwitchbackConfig:
    variants = tuple(VariantConfig(VARIANTS[k], f"model_{k}", None, None, 0.0, None) for k in range(len(tickets)))
    return SwitchbackConfig(
        name=name, unit="region", slice_seconds=slice_seconds, burn_in_seconds=burn_in, seed=seed,
        timezone=zone, regions={region: zone}, start=None, end=None, control=variants[0].name,
        targeting=None, targeting_source=None, tickets=tuple(tickets), variants=variants)


def _schedule(name, seed, slice_seconds, burn_in, tickets, region, zone, start, end) -> dict:
    """One case: the switchback's parameters and every slice overlapping [from, to)."""
    schedule = Schedule(_config(name, seed, slice_seconds, burn_in, tickets, region, zone))
    slices = [{"index": s.index, "block": s.block, "position": s.position, "start": iso_utc(s.start),
               "end": iso_utc(s.end), "local_date": s.local_date.isoformat(), "variant": variant.name}
              for s, variant in schedule.slices(region, _utc(start), _utc(end))]
    return {"switchback": name, "seed": seed, "slice_seconds": slice_seconds, "burn_in_seconds": burn_in,
            "tickets": list(tickets), "variants": list(VARIANTS[:len(tickets)]), "region": region,
            "timezone": zone, "from": start, "to": end, "slices": slices}


def vectors() -> dict:
    """The whole document (deterministic)."""
    return {
        "about": "Switchback schedule test vectors (docs/experiments.md, 'Switchback schedule (normative)'); "
                 "regenerate with scripts/experiment_schedule_vectors.py. Times are UTC; 'slices' lists "
                 "every slice overlapping [from, to) with its true bounds.",
        "hash_key": "\x00".join(("<seed>", "<switchback>", "<region>", "<block>", "<j>")),
        "day_starts": [{"timezone": zone, "day": day, "start": iso_utc(day_start(date.fromisoformat(day), zone))}
                       for zone, day in DAY_STARTS],
        "ticket_orders": [{"seed": seed, "switchback": name, "region": region, "block": block, "total": total,
                           "order": ticket_order(seed, name, region, block, total)}
                          for seed, name, region, block, total in TICKET_ORDERS],
        "schedules": [_schedule(*case) for case in SCHEDULES],
    }


def render(value=None, indent: int = 0) -> str:
    """JSON with one line per flat object or flat list (short diffs), two-space indentation."""
    value = vectors() if value is None else value
    flat = not isinstance(value, (dict, list)) or all(not isinstance(v, (dict, list)) or
                                                      (isinstance(v, list) and not any(isinstance(x, (dict, list)) for x in v))
                                                      for v in (value.values() if isinstance(value, dict) else value))
    if flat:
        return json.dumps(value, ensure_ascii=False)
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {render(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    items = [f"{inner}{render(v, indent + 2)}" for v in value]
    return "[\n" + ",\n".join(items) + f"\n{pad}]"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed file is stale")
    args = parser.parse_args(argv)
    text = render() + "\n"
    if args.check:
        current = PATH.read_text(encoding="utf-8") if PATH.exists() else ""
        if current != text:
            print(f"{PATH} is stale: run scripts/experiment_schedule_vectors.py", file=sys.stderr)
            return 1
        return 0
    PATH.write_text(text, encoding="utf-8")
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
