"""The switchback schedule (normative; docs/experiments.md "Switchback schedule").

    schedule = Schedule(config.switchback("dispatch_eta"))
    slice_, variant, burn_in = schedule.assign("beijing", now)       # None: not covered / not running
    rows = schedule_rows(switchback, start, end)                     # `mlc experiment schedule`

Rules, in a region's IANA timezone:

- ``day_start(D)``: the first instant whose local date is ``D`` (local midnight; the end of the
  gap when midnight does not exist). Day ``D`` is ``[day_start(D), day_start(D + 1))``; a 23-hour
  day is shorter, a 25-hour day longer, and every instant is in exactly one day.
- sub-day slices (``86400 % slice_seconds == 0``, ``slice_seconds < 86400``): slice ``i`` of
  ``D`` is ``[start(D) + i * slice, min(start(D) + (i + 1) * slice, start(D + 1)))``, position
  ``i mod T`` of block ``"<ordinal(D)>.<floor(i / T)>"``;
- multi-day slices (``slice_seconds`` = ``n`` whole days, one day included): slice number
  ``s = floor(ordinal(D) / n)`` is ``[start(n * s), start(n * (s + 1)))``, position ``s mod T``
  of block ``"<floor(s / T)>"``;
- a block's tickets are permuted by sorting ``j = 0 .. T-1`` by
  ``(hash64("<seed>\\0<switchback>\\0<region>\\0<block>\\0<j>"), j)``; the slice's variant is the
  ticket at sorted position ``p`` (tickets: variant ``k`` repeated ``tickets[k]`` times);
- burn-in: an instant less than ``burn_in_seconds`` after its slice's start.

Datetimes without a timezone are taken as UTC (never as local time). Only the standard library
is used; zone objects, day starts and block permutations are cached (bounded) because the
serving path calls :meth:`Schedule.assign` once per request.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Iterator, Sequence
from zoneinfo import ZoneInfo

from mlc.backends.experiments.config import SwitchbackConfig, VariantConfig
from mlc.runtime.experiments.hashing import SEPARATOR, hash64, unit_text

DAY_SECONDS = 86_400
UTC = timezone.utc
_LAST_SLICES = 4_096     # regions whose latest slice a Schedule remembers


@dataclass(frozen=True, slots=True)
class Slice:
    """One slice of a region's schedule: ``[start, end)`` in UTC and its place in a block."""

    region: str
    index: int          # i within local day D (sub-day slices) or slice number s (multi-day)
    block: str          # "<ordinal(D)>.<floor(i/T)>" (sub-day) or "<floor(s/T)>" (multi-day)
    position: int       # position within the block
    start: datetime     # UTC, tz-aware
    end: datetime       # UTC, tz-aware (exclusive)
    local_date: date    # D for sub-day slices; the first local day of a multi-day slice

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


# ---------------------------------------------------------------- time


def as_utc(at: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is taken as UTC (documented module rule)."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


@lru_cache(maxsize=512)
def zone_info(zone: str) -> ZoneInfo:
    """The IANA zone `zone` (cached); ValueError when the tz database does not know it."""
    try:
        return ZoneInfo(zone)
    except (ValueError, OSError, LookupError) as err:       # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown timezone {zone!r}") from err


def day_start(day: date, zone: str) -> datetime:
    """The first instant (UTC, aware) whose local date in `zone` is `day`.

    Local midnight when it exists (its first occurrence when it is repeated), else the end of the
    gap that skips it. For a local day that never happens at all (Pacific/Apia 2011-12-30) it is
    the start of the next day that does, so that day has no instants.
    """
    return _day_start(day.toordinal(), zone)


@lru_cache(maxsize=16_384)
def _day_start(ordinal: int, zone: str) -> datetime:
    zi = zone_info(zone)
    midnight = datetime.combine(date.fromordinal(ordinal), time(0))
    first = midnight.replace(tzinfo=zi).astimezone(UTC)           # fold=0: the earlier occurrence
    if first.astimezone(zi).replace(tzinfo=None) == midnight:
        return first
    return _first_instant_on_or_after(midnight, zi)


def _first_instant_on_or_after(midnight: datetime, zi: ZoneInfo) -> datetime:
    """Bisection (1 s resolution; transitions fall on whole seconds) for the first instant whose
    local date is on or after `midnight`'s date. UTC offsets are under 16 h, so the local date is
    before it one day earlier (midnight read as UTC) and after it one day later."""
    day = midnight.date()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    base = int((midnight.replace(tzinfo=UTC) - epoch).total_seconds())
    lo, hi = base - DAY_SECONDS, base + DAY_SECONDS                # lo: before, hi: on or after
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (epoch + timedelta(seconds=mid)).astimezone(zi).date() >= day:
            hi = mid
        else:
            lo = mid
    return epoch + timedelta(seconds=hi)


def local_day(at: datetime, zone: str) -> int:
    """The ordinal of the day D with ``day_start(D) <= at < day_start(D + 1)``.

    Usually the local date of `at`; it differs only where a clock is set back across midnight
    (the repeated hour after ``day_start(D)`` still belongs to D)."""
    ordinal = at.astimezone(zone_info(zone)).toordinal()
    while at >= _day_start(ordinal + 1, zone):
        ordinal += 1
    while at < _day_start(ordinal, zone):
        ordinal -= 1
    return ordinal


def _check_slice(slice_seconds: int) -> int:
    """Days per slice for multi-day slices (whole days, 1 included), 0 for sub-day slices
    (divide a day); ValueError otherwise (the compiler's lint refuses those)."""
    if slice_seconds <= 0:
        raise ValueError(f"slice of {slice_seconds} s: must be positive")
    if slice_seconds % DAY_SECONDS == 0:
        return slice_seconds // DAY_SECONDS
    if DAY_SECONDS % slice_seconds == 0:
        return 0
    raise ValueError(f"slice of {slice_seconds} s neither divides a day nor is whole days")


# ---------------------------------------------------------------- slices and blocks


def slice_at(at: datetime, zone: str, slice_seconds: int, tickets_total: int, region: str = "") -> Slice:
    """The slice of `zone`'s schedule that contains `at` (naive: UTC)."""
    at = as_utc(at)
    days = _check_slice(slice_seconds)
    if tickets_total < 1:
        raise ValueError(f"tickets_total {tickets_total}: must be at least 1")
    ordinal = local_day(at, zone)
    if days:
        return _multi_day_slice(ordinal // days, days, zone, tickets_total, region)
    return _sub_day_slice(at, ordinal, zone, slice_seconds, tickets_total, region)


def _sub_day_slice(at: datetime, ordinal: int, zone: str, slice_seconds: int, total: int, region: str) -> Slice:
    """Slice i = floor((at - start(D)) / slice) of day D, cut at the start of D + 1."""
    begin, following = _day_start(ordinal, zone), _day_start(ordinal + 1, zone)
    length = timedelta(seconds=slice_seconds)
    index = (at - begin) // length
    start = begin + index * length
    return Slice(region, index, f"{ordinal}.{index // total}", index % total,
                 start, min(start + length, following), date.fromordinal(ordinal))


def _multi_day_slice(number: int, days: int, zone: str, total: int, region: str) -> Slice:
    """Slice number s = floor(ordinal(D) / n): [start(n * s), start(n * (s + 1)))."""
    return Slice(region, number, str(number // total), number % total,
                 _day_start(number * days, zone), _day_start((number + 1) * days, zone),
                 date.fromordinal(number * days))


def _following(slice_: Slice, zone: str, slice_seconds: int, total: int) -> Slice:
    """The slice that starts where `slice_` ends (skips empty days)."""
    return slice_at(slice_.end, zone, slice_seconds, total, slice_.region)


def ticket_order(seed: int, switchback: str, region: str, block: str, total: int) -> list[int]:
    """Ticket positions j = 0 .. total-1 sorted by (hash64("<seed>\\0<switchback>\\0<region>\\0
    <block>\\0<j>"), j): entry p is the ticket the slice at block position p gets."""
    return list(_ticket_order(int(seed), switchback, region, block, total))


@lru_cache(maxsize=65_536)
def _ticket_order(seed: int, switchback: str, region: str, block: str, total: int) -> tuple[int, ...]:
    prefix = SEPARATOR.join((str(seed), switchback, region, block)) + SEPARATOR
    return tuple(sorted(range(total), key=lambda j: (hash64(prefix + str(j)), j)))


def ticket_list(tickets: Sequence[int]) -> tuple[int, ...]:
    """Each variant's index repeated its ticket count, in variant order ([1, 3] -> 0, 1, 1, 1)."""
    return tuple(k for k, count in enumerate(tickets) for _ in range(count))


# ---------------------------------------------------------------- a switchback's schedule


class Schedule:
    """The schedule of one switchback: slices and variants per region (thread-safe, cached)."""

    def __init__(self, config: SwitchbackConfig):
        self.config = config
        self.days = _check_slice(config.slice_seconds)
        self.tickets = ticket_list(config.tickets)
        if not self.tickets or len(config.tickets) != len(config.variants):
            raise ValueError(f"switchback `{config.name}`: tickets {list(config.tickets)} do not match its variants")
        self.total = len(self.tickets)
        self.burn_in = timedelta(seconds=config.burn_in_seconds)
        self._block_variants = lru_cache(maxsize=8_192)(self._variants_of_block)
        self._last: dict[str, tuple[Slice, VariantConfig]] = {}    # region -> its latest slice

    def zone(self, region: str) -> str | None:
        """The region's timezone, or None when the switchback does not cover it."""
        return self.config.timezone_of(region)

    def slice_at(self, region: str, at: datetime) -> Slice | None:
        """The region's slice containing `at` (naive: UTC); None when the region is not covered."""
        region = _region(region)
        zone = self.zone(region)
        if zone is None:
            return None
        return slice_at(at, zone, self.config.slice_seconds, self.total, region)

    def variant_of(self, slice_: Slice) -> VariantConfig:
        """The variant of the ticket at the slice's position in its block's permutation."""
        return self._block_variants(slice_.region, slice_.block)[slice_.position]

    def _variants_of_block(self, region: str, block: str) -> tuple[VariantConfig, ...]:
        order = _ticket_order(self.config.seed, self.config.name, region, block, self.total)
        return tuple(self.config.variants[self.tickets[j]] for j in order)

    def assign(self, region: str, at: datetime) -> tuple[Slice, VariantConfig, bool] | None:
        """(slice, variant, in burn-in) of a request in `region` at `at` (naive: UTC); None when
        the region is not covered or `at` is outside the switchback's [start, end)."""
        at = as_utc(at)
        if not self.config.active(at):
            return None
        region = _region(region)
        last = self._last.get(region)
        if last is None or not (last[0].start <= at < last[0].end):
            slice_ = self.slice_at(region, at)
            if slice_ is None:
                return None
            if len(self._last) >= _LAST_SLICES and region not in self._last:
                self._last.clear()                  # bounded: regions come from requests
            last = self._last[region] = (slice_, self.variant_of(slice_))
        return last[0], last[1], at - last[0].start < self.burn_in

    def in_burn_in(self, slice_: Slice, at: datetime) -> bool:
        """True for the first ``burn_in_seconds`` of the slice."""
        return as_utc(at) - slice_.start < self.burn_in

    def slices(self, region: str, start: datetime, end: datetime) -> Iterator[tuple[Slice, VariantConfig]]:
        """Every slice of the region overlapping [start, end), in time order, with its true bounds
        (not clipped, not limited to the switchback's run); nothing for an uncovered region."""
        start, end = as_utc(start), as_utc(end)
        current = self.slice_at(region, start) if start < end else None
        if current is None:
            return
        zone = self.zone(current.region)
        while current.start < end:
            yield current, self.variant_of(current)
            current = _following(current, zone, self.config.slice_seconds, self.total)


def _region(region: object) -> str:
    """A region as hashed: strings as they are, integers in decimal (the unit text)."""
    return region if isinstance(region, str) else unit_text(region)


# ---------------------------------------------------------------- `mlc experiment schedule`


def iso_utc(at: datetime) -> str:
    """UTC ISO-8601 with a `Z` (whole seconds unless the instant has a fraction)."""
    text = as_utc(at).replace(tzinfo=None).isoformat()
    return text + "Z"


def schedule_rows(config: SwitchbackConfig, start: datetime | None, end: datetime | None,
                  regions: Sequence[str] | None = None) -> list[dict]:
    """One row per (region, slice) overlapping [start, end) and the switchback's run [config.start,
    config.end) (a None bound: the switchback's), regions in the given order (default: the
    configured regions, sorted), slices in time order.

    ValueError when no region is given for a switchback that covers every region, a region is not
    covered, or the window is unbounded."""
    schedule = Schedule(config)
    start = _later(start, config.start)
    end = _earlier(end, config.end)
    if start is None or end is None:
        raise ValueError(f"switchback `{config.name}`: give both ends of the schedule window")
    names = _rows_regions(config, regions)
    rows = []
    for region in names:
        zone = zone_info(config.timezone_of(region))
        for slice_, variant in schedule.slices(region, start, end):
            rows.append(_row(slice_, variant, zone, schedule.burn_in))
    return rows


def _rows_regions(config: SwitchbackConfig, regions: Sequence[str] | None) -> list[str]:
    if regions is None:
        if not config.regions:
            raise ValueError(f"switchback `{config.name}` covers every region: name the regions to schedule")
        return sorted(config.regions)
    names = [_region(r) for r in regions]
    uncovered = [r for r in names if config.timezone_of(r) is None]
    if uncovered:
        raise ValueError(f"switchback `{config.name}` does not cover region(s) {', '.join(uncovered)} "
                         f"(regions: {', '.join(sorted(config.regions))})")
    return names


def _row(slice_: Slice, variant: VariantConfig, zone: ZoneInfo, burn_in: timedelta) -> dict:
    return {
        "region": slice_.region, "slice_index": slice_.index, "block": slice_.block,
        "start": iso_utc(slice_.start), "end": iso_utc(slice_.end),
        "local_start": slice_.start.astimezone(zone).isoformat(),
        "variant": variant.name, "model": variant.model, "version": variant.version, "alias": variant.alias,
        "burn_in_end": iso_utc(min(slice_.start + burn_in, slice_.end)),
    }


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    a, b = (as_utc(a) if a else None), (as_utc(b) if b else None)
    return max(a, b) if a and b else a or b


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    a, b = (as_utc(a) if a else None), (as_utc(b) if b else None)
    return min(a, b) if a and b else a or b


def balance(rows) -> dict[str, dict[str, int]]:
    """Slices per variant per region of `schedule_rows` output: region -> variant -> count."""
    counts: dict[str, Counter] = {}
    for row in rows:
        counts.setdefault(row["region"], Counter())[row["variant"]] += 1
    return {region: dict(sorted(c.items())) for region, c in sorted(counts.items())}
