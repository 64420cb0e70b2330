"""Semantic checks of the `experiments:` section (docs/experiments.md): layer reservations and
ramp-safe ranges, variants and controls, units, and switchback schedules. Like
``mlc.compiler.checks``, every problem is reported with its location and none stops the others.

Changes against a previous build (a baseline) are checked by ``mlc.compiler.experiment_baseline``.
"""

from __future__ import annotations

from datetime import datetime

from mlc.core.names import canonical_timestamp, duration_seconds, name_problem, parse_timestamp
from mlc.compiler.reporter import Reporter
from mlc.core.suggest import did_you_mean
from mlc.schemas import spec as S
from mlc.compiler.lower import reservations, tickets
from mlc.dsl import parse_dtype
from mlc.compiler.facts import served_models
from mlc.core.suggest import closest
from mlc.core.timezones import is_timezone, timezone_names

DAY = 86_400
MAX_TICKETS = 24        # slices per block of a switchback (E5037)
UNIT_DTYPES = ("string", "int64")


def check_experiments(spec: S.Spec, report: Reporter) -> None:
    for layer_name, layer in spec.experiments.layers.items():
        _check_layer(spec, layer_name, layer, report)
    min_slice = duration_seconds(spec.experiments.min_slice)
    if min_slice is None:
        report.error("E2006", "`min_slice` must be longer than zero", ("experiments", "min_slice"))
    for sb_name, switchback in spec.experiments.switchbacks.items():
        _check_switchback(spec, sb_name, switchback, min_slice, report)
    _check_switchback_overlaps(spec, report)


def percent(buckets: int) -> str:
    """Buckets as a percentage of the layer, e.g. `40%` or `12.5%`."""
    return f"{buckets / 100:g}%"


def percent_range(pair: tuple[int, int]) -> str:
    return f"[{percent(pair[0])}, {percent(pair[1])})"


# --------------------------------------------------------------------- layers


def _check_layer(spec: S.Spec, layer_name: str, layer: S.Layer, report: Reporter) -> None:
    base = ("experiments", "layers", layer_name)
    total = sum(e.traffic for e in layer.experiments.values())
    ranges = reservations(layer)
    if total > 100 + 1e-9:
        report.error("E5009", f"experiments in layer `{layer_name}` take {total:g}% of traffic; a layer has 100%",
                     base, at_key=True, hint="a unit is in at most one experiment per layer; lower some `traffic`")
    for exp_name, experiment in layer.experiments.items():
        path = base + ("experiments", exp_name)
        (start, end), _ = ranges[exp_name]
        if end > 10_000 and total <= 100 + 1e-9:
            where = "reserve" if experiment.reserve is not None else "traffic"
            report.error("E5009", f"the reservation of `{exp_name}` {percent_range((start, end))} ends beyond 100% "
                         f"of layer `{layer_name}`", path + (where,),
                         hint=f"lower `{where}`" + (" or pin an earlier `offset`" if start else "")
                              + "; reservations take the layer in declaration order unless `offset` pins them")
        if experiment.reserve is not None and experiment.traffic > experiment.reserve + 1e-9:
            report.error("E5033", f"`traffic` {experiment.traffic:g}% of `{exp_name}` is above its `reserve` "
                         f"{experiment.reserve:g}%", path + ("traffic",),
                         hint=f"raise `reserve` to at least {experiment.traffic:g} (the room kept for ramping up) "
                              "or lower `traffic`")
        _check_unit(spec, experiment.unit, path + ("unit",), report)
        _check_variants(spec, experiment.variants, path, report)
        _check_control(experiment.control, experiment.variants, path, f"experiment `{exp_name}`", report)
    _check_overlaps(layer_name, layer, ranges, report)
    units = sorted({e.unit for e in layer.experiments.values() if e.unit in spec.preprocess.inputs})  # else E5017
    if len(units) > 1:
        report.warning("W5108", f"layer `{layer_name}` mixes unit fields " + ", ".join(f"`{u}`" for u in units)
                       + ": experiments of a layer are mutually exclusive only for units of the same field",
                       base, at_key=True,
                       hint="put the experiments on another unit field in a layer of their own")


def _check_overlaps(layer_name: str, layer: S.Layer, ranges: dict, report: Reporter) -> None:
    names = list(layer.experiments)
    for j, later in enumerate(names):
        (l_start, l_end), _ = ranges[later]
        for earlier in names[:j]:
            (e_start, e_end), _ = ranges[earlier]
            if max(l_start, e_start) < min(l_end, e_end):
                path = ("experiments", "layers", layer_name, "experiments", later)
                pinned = layer.experiments[later].offset is not None
                report.error("E5032", f"the reservations of `{earlier}` {percent_range((e_start, e_end))} and "
                             f"`{later}` {percent_range((l_start, l_end))} overlap in layer `{layer_name}`",
                             path + ("offset",) if pinned else path, at_key=not pinned,
                             hint=f"give `{later}` an `offset` of at least {e_end / 100:g}, or lower the `reserve` "
                                  f"of `{earlier}`; a unit is in at most one experiment per layer")
                break


def _check_unit(spec: S.Spec, unit: str, path: tuple, report: Reporter) -> None:
    item = spec.preprocess.inputs.get(unit)
    if item is None:
        report.error("E5017", f"unit `{unit}` is not a preprocess input", path,
                     hint=did_you_mean(unit, spec.preprocess.inputs, "inputs") or "declare it under `preprocess.inputs`")
        return
    try:
        dtype = str(parse_dtype(item.dtype))
    except ValueError:
        return  # E5011 on the input
    if dtype not in UNIT_DTYPES:
        candidates = [name for name, i in spec.preprocess.inputs.items() if i.dtype in UNIT_DTYPES]
        report.error("E5017", f"unit `{unit}` is {dtype}; a unit must be a string or int64 input", path,
                     hint="units are hashed as text, which only identifies strings and integers exactly"
                          + (": use " + ", ".join(f"`{c}`" for c in candidates[:5]) if candidates else ""))


def _check_variants(spec: S.Spec, variants: dict, path: tuple, report: Reporter) -> None:
    weights = [v.weight for v in variants.values() if v.weight is not None]
    if weights and len(weights) != len(variants):
        missing = ", ".join(f"`{name}`" for name, v in variants.items() if v.weight is None)
        report.error("E5010", f"only some variants have a weight (missing: {missing})", path + ("variants",), at_key=True,
                     hint="give every variant a weight adding up to 100, or none for an equal split")
    elif weights and abs(sum(weights) - 100) > 1e-9:
        report.error("E5010", f"variant weights sum to {sum(weights):g}%, not 100%", path + ("variants",), at_key=True,
                     hint="the weights of one experiment add up to 100")
    served = served_models(spec)
    for name, variant in variants.items():
        vpath = path + ("variants", name)
        if variant.model not in spec.models:
            report.error("E5002", f"variant `{name}` uses unknown model `{variant.model}`", vpath + ("model",),
                         hint=did_you_mean(variant.model, spec.models, "models"))
        elif variant.model not in served:
            report.warning("W5102", f"variant `{name}` uses model `{variant.model}`, which the deployment does not serve",
                           vpath + ("model",), hint="add it to `deployment.models`")
        if variant.version is not None and variant.alias is not None:
            report.error("E5029", f"variant `{name}` pins both a version and an alias", vpath, at_key=True,
                         hint="use `version` to pin a number or `alias` (e.g. `candidate`) to follow the registry")
        if variant.alias is not None and name_problem(variant.alias):
            report.error("E5001", f"alias `{variant.alias}` {name_problem(variant.alias)}", vpath + ("alias",))


def _check_control(control: str | None, variants: dict, path: tuple, owner: str, report: Reporter) -> None:
    if control is not None and control not in variants:
        report.error("E5002", f"control `{control}` is not a variant of {owner}", path + ("control",),
                     hint=did_you_mean(control, variants, "variants"))


# ---------------------------------------------------------------- switchbacks


def _check_switchback(spec: S.Spec, name: str, switchback: S.Switchback, min_slice: int | None,
                      report: Reporter) -> None:
    base = ("experiments", "switchbacks", name)
    _check_unit(spec, switchback.unit, base + ("unit",), report)
    _check_variants(spec, switchback.variants, base, report)
    _check_control(switchback.control, switchback.variants, base, f"switchback `{name}`", report)
    _check_tickets(name, switchback, base, report)
    slice_seconds = duration_seconds(switchback.slice)
    if slice_seconds is None:
        report.error("E2006", "the slice must be longer than zero", base + ("slice",))
    else:
        _check_slice(switchback.slice, slice_seconds, spec.experiments.min_slice, min_slice, base + ("slice",), report)
    if switchback.burn_in is not None and slice_seconds is not None:
        burn = duration_seconds(switchback.burn_in) or 0
        if burn >= slice_seconds:
            report.error("E5022", f"burn_in {switchback.burn_in} leaves nothing of a {switchback.slice} slice to analyse",
                         base + ("burn_in",), hint="make the burn-in shorter than the slice")
    _check_timezone(switchback.timezone, base + ("timezone",), report)
    for region, zone in switchback.regions.items():
        _check_timezone(zone, base + ("regions", region), report)
    start, end = _period(switchback)
    for field, text, value in (("start", switchback.start, start), ("end", switchback.end, end)):
        if text is not None and value is None:
            report.error("E5014", f"`{text}` is not an ISO-8601 timestamp", base + (field,), hint="e.g. `2024-06-01T00:00:00Z`")
    if start and end and start >= end:
        report.error("E5022", f"switchback ends ({canonical_timestamp(switchback.end)}) before it starts", base + ("end",))


def _check_slice(text: str, seconds: int, min_text: str, min_seconds: int | None, path: tuple, report: Reporter) -> None:
    if min_seconds is not None and seconds < min_seconds:
        report.error("E5035", f"slice {text} is shorter than `experiments.min_slice` ({min_text})", path,
                     hint=f"use a slice of at least {min_text}: the metric needs time to react to a switch; "
                          "lower `experiments.min_slice` only if it really reacts faster")
    if DAY % seconds and seconds % DAY:
        below, above = _slice_neighbours(seconds)
        options = " or ".join(f"`{s}`" for s in (below, above) if s)
        report.error("E5036", f"slice {text} neither divides a day nor is a whole number of days", path,
                     hint=f"slices tile each local day (or span whole days); try {options}")


def _slice_neighbours(seconds: int) -> tuple[str | None, str | None]:
    """The nearest valid slices below and above ``seconds``, written as durations."""
    candidates: dict[int, str] = {}
    for days in range(1, seconds // DAY + 2):
        candidates[days * DAY] = f"{days}d"
    for unit, size in (("h", 3600), ("m", 60)):
        for count in range(1, DAY // size):
            if DAY % (count * size) == 0:
                candidates.setdefault(count * size, f"{count}{unit}")
    below = max((s for s in candidates if s < seconds), default=None)
    above = min((s for s in candidates if s > seconds), default=None)
    return (candidates[below] if below else None, candidates[above] if above else None)


def _check_tickets(name: str, switchback: S.Switchback, base: tuple, report: Reporter) -> None:
    weights = [v.weight for v in switchback.variants.values()]
    if any(w is None for w in weights) or abs(sum(weights) - 100) > 1e-9:
        return  # equal split, or E5010
    zero = [n for n, v in switchback.variants.items() if v.weight == 0]
    for variant in zero:
        report.error("E2007", f"variant `{variant}` of switchback `{name}` has weight 0, so it never gets a slice",
                     base + ("variants", variant, "weight"), hint="remove the variant, or give it a weight")
    if zero:
        return
    counts = tickets(weights)
    if sum(counts) > MAX_TICKETS:
        shown = "/".join(f"{w:g}" for w in weights)
        report.error("E5037", f"weights {shown} of switchback `{name}` need {sum(counts)} slices per block "
                     f"({':'.join(map(str, counts))}) to balance exactly; at most {MAX_TICKETS} are allowed",
                     base + ("variants",), at_key=True,
                     hint="use weights with a simple ratio, e.g. equal weights (leave them out), 50/50 or 25/75")


def _period(switchback: S.Switchback) -> tuple[datetime | None, datetime | None]:
    start = parse_timestamp(switchback.start) if switchback.start else None
    end = parse_timestamp(switchback.end) if switchback.end else None
    return start, end


def _check_switchback_overlaps(spec: S.Spec, report: Reporter) -> None:
    items = list(spec.experiments.switchbacks.items())
    for j, (later, b) in enumerate(items):
        for earlier, a in items[:j]:
            if a.unit != b.unit:
                continue
            if a.regions and b.regions:
                common = sorted(set(a.regions) & set(b.regions))
                if not common:
                    continue
                where = "region" + ("s " if len(common) > 1 else " ") + ", ".join(f"`{r}`" for r in common)
            elif a.regions or b.regions:
                where = "regions " + ", ".join(f"`{r}`" for r in sorted(a.regions or b.regions))
            else:
                where = "every region"
            if (a.start and _period(a)[0] is None) or (a.end and _period(a)[1] is None) \
                    or (b.start and _period(b)[0] is None) or (b.end and _period(b)[1] is None):
                continue  # E5014
            if not _periods_overlap(_period(a), _period(b)):
                continue
            report.error("E5034", f"switchbacks `{earlier}` and `{later}` both switch `{b.unit}` in {where} "
                         "over overlapping periods", ("experiments", "switchbacks", later), at_key=True,
                         hint="a region follows one switchback at a time: give them disjoint `regions`, or "
                              "periods (`start`/`end`) that do not overlap")
            break


def _periods_overlap(a: tuple, b: tuple) -> bool:
    starts = [t for t in (a[0], b[0]) if t is not None]
    ends = [t for t in (a[1], b[1]) if t is not None]
    if not starts or not ends:
        return True
    return max(starts) < min(ends)


def _check_timezone(zone: str, path: tuple, report: Reporter) -> None:
    if not is_timezone(zone):
        match = closest(zone, timezone_names())
        report.error("E5018", f"unknown timezone `{zone}`", path,
                     hint=f"did you mean `{match}`?" if match else "use an IANA name such as `Asia/Shanghai`")
