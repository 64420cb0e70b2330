"""Experiment lint (compiler/experiment_checks.py): one test per problem, each from the valid
spec with one change, checking code, location, message and hint; then lowering of the
reservations and tickets."""

from __future__ import annotations

import pytest
from lint_cases import BASE, SWITCHBACK, at, edit, one, run  # noqa: F401  (run is a fixture)

from mlc.compiler.pipeline import build

E2 = "        e2:\n          unit: rider_id\n          traffic: 10\n          variants: {a: {model: eta, weight: 100}}\n"


def with_switchbacks(*blocks: str) -> str:
    header = "  switchbacks:\n"
    joined = "".join(blocks)
    first = joined.index(header) + len(header)
    return edit(("experiments:\n  layers:", "experiments:\n" + joined[:first] + joined[first:].replace(header, "") + "  layers:"))


# ------------------------------------------------------------------ layers


def test_reserve_offset_and_control_are_valid(run):
    text = edit(("traffic: 30", "traffic: 30\n          reserve: 40\n          control: b")) + E2.replace(
        "traffic: 10", "traffic: 10\n          offset: 60")
    assert run(text).diagnostics == []


def test_e5009_reservation_beyond_the_layer(run):
    text = edit(("traffic: 30", "traffic: 30\n          reserve: 60")) + E2.replace("traffic: 10", "traffic: 10\n          reserve: 50")
    one(run, text, "E5009", "50\n", "the reservation of `e2` [60%, 110%) ends beyond 100% of layer `ranking`",
        "lower `reserve` or pin an earlier `offset`; reservations take the layer in declaration order unless "
        "`offset` pins them")


def test_e5009_pinned_offset_beyond_the_layer(run):
    text = BASE + E2.replace("traffic: 10", "traffic: 10\n          offset: 95")
    one(run, text, "E5009", "10\n          offset", "the reservation of `e2` [95%, 105%) ends beyond 100% of layer "
        "`ranking`", "lower `traffic` or pin an earlier `offset`; reservations take the layer in declaration "
        "order unless `offset` pins them")


def test_e5032_reservations_overlap(run):
    text = edit(("traffic: 30", "traffic: 30\n          reserve: 40")) + E2.replace("traffic: 10", "traffic: 10\n          offset: 20")
    one(run, text, "E5032", "20\n", "the reservations of `e1` [0%, 40%) and `e2` [20%, 30%) overlap in layer `ranking`",
        "give `e2` an `offset` of at least 40, or lower the `reserve` of `e1`; a unit is in at most one "
        "experiment per layer")


def test_e5032_default_offset_after_a_pinned_one(run):
    # e1 pinned at 50 ([50, 80)); e2 follows it ([80, 90)); e3 follows e2 but is pinned into e1
    text = edit(("traffic: 30", "traffic: 30\n          offset: 50")) + E2 + E2.replace("e2:", "e3:").replace(
        "traffic: 10", "traffic: 10\n          offset: 70")
    one(run, text, "E5032", "70", "the reservations of `e1` [50%, 80%) and `e3` [70%, 80%) overlap in layer "
        "`ranking`", "give `e3` an `offset` of at least 80, or lower the `reserve` of `e1`; a unit is in at most "
        "one experiment per layer")


def test_e5033_traffic_above_reserve(run):
    text = edit(("traffic: 30", "traffic: 30\n          reserve: 20"))
    one(run, text, "E5033", "30\n", "`traffic` 30% of `e1` is above its `reserve` 20%",
        "raise `reserve` to at least 30 (the room kept for ramping up) or lower `traffic`")


def test_e5002_control_not_a_variant(run):
    text = edit(("traffic: 30", "traffic: 30\n          control: bb"))
    one(run, text, "E5002", "bb", "control `bb` is not a variant of experiment `e1`", "did you mean `b`?")


def test_e5002_switchback_control_not_a_variant(run):
    text = with_switchbacks(SWITCHBACK.replace("      slice: 30m\n", "      slice: 30m\n      control: control\n"))
    one(run, text, "E5002", "control\n", "control `control` is not a variant of switchback `sb`", "valid variants: `a`, `b`")


def test_e5017_unit_must_be_string_or_int64(run):
    text = edit(("unit: rider_id", "unit: distance_km"))
    one(run, text, "E5017", "distance_km\n", "unit `distance_km` is float64; a unit must be a string or int64 input",
        "units are hashed as text, which only identifies strings and integers exactly: use `rider_id`, `city`")


def test_e2008_salt_with_a_control_character(tmp_path):
    """Salts are hashed as `salt` + NUL + unit: a control character in one is refused when the
    spec is validated, like every single-line string of the spec."""
    (tmp_path / "s.mlc.yaml").write_text(edit(("    ranking:\n", '    ranking:\n      salt: "r\\0x"\n')))
    result = build(str(tmp_path / "s.mlc.yaml"))
    assert result.failed_stage == "validate"
    assert [(d.code, d.message) for d in result.diagnostics] == [
        ("E2008", "`experiments.layers.ranking.salt` contains a control character (NUL)")]


def test_w5108_layer_mixes_unit_fields(run):
    text = BASE + E2.replace("unit: rider_id", "unit: city")
    diag = one(run, text, "W5108", "ranking", "layer `ranking` mixes unit fields `city`, `rider_id`: experiments of a "
               "layer are mutually exclusive only for units of the same field",
               "put the experiments on another unit field in a layer of their own")
    assert not diag.is_error and run(text).ok


def test_e5002_variant_unknown_model_is_located(run):
    text = edit(("a: {model: eta, weight: 50}", "a: {model: etx, weight: 50}"))
    one(run, text, "E5002", "etx", "variant `a` uses unknown model `etx`", "did you mean `eta`?")


def test_switchback_variant_unknown_model_is_located(run):
    text = with_switchbacks(SWITCHBACK.replace("b: {model: eta}", "b: {model: eat}"))
    one(run, text, "E5002", "eat}", "variant `b` uses unknown model `eat`", "did you mean `eta`?")


def test_targeting_unknown_field_is_located(run):
    text = edit(("city in ['beijing']", "cty in ['beijing']"))
    result = run(text)
    assert [d.code for d in result.diagnostics] == ["E4001"]
    diag = result.diagnostics[0]
    assert (diag.span.start.line, diag.span.start.col) == at(text, "cty")
    assert "cty" in diag.message and diag.hint == "did you mean `city`?"


# ------------------------------------------------------------- switchbacks


def test_e5034_switchbacks_overlap(run):
    text = with_switchbacks(SWITCHBACK, SWITCHBACK.replace("    sb:", "    sb2:"))
    one(run, text, "E5034", "sb2", "switchbacks `sb` and `sb2` both switch `city` in every region over overlapping periods",
        "a region follows one switchback at a time: give them disjoint `regions`, or periods (`start`/`end`) "
        "that do not overlap")


def test_e5034_common_regions_and_open_periods(run):
    first = SWITCHBACK.replace("      burn_in: 5m\n", "      burn_in: 5m\n      regions: {beijing: Asia/Shanghai, "
                               "shanghai: Asia/Shanghai}\n      start: '2024-07-01T00:00:00Z'\n")
    second = SWITCHBACK.replace("    sb:", "    sb2:").replace(
        "      burn_in: 5m\n", "      burn_in: 5m\n      regions: {shanghai: Asia/Shanghai, wuhan: Asia/Shanghai}\n"
                              "      end: '2024-07-02T00:00:00Z'\n")
    one(run, with_switchbacks(first, second), "E5034", "sb2", "switchbacks `sb` and `sb2` both switch `city` in "
        "region `shanghai` over overlapping periods", "a region follows one switchback at a time: give them "
        "disjoint `regions`, or periods (`start`/`end`) that do not overlap")


@pytest.mark.parametrize("first, second", [
    ("      regions: {beijing: Asia/Shanghai}\n", "      regions: {shanghai: Asia/Shanghai}\n"),
    ("      end: '2024-07-01T00:00:00Z'\n", "      start: '2024-07-01T00:00:00Z'\n"),
    ("      end: '2024-07-01T00:00:00Z'\n", "      unit: rider_id\n"),
])
def test_switchbacks_that_do_not_overlap(run, first, second):
    a = SWITCHBACK.replace("      burn_in: 5m\n", "      burn_in: 5m\n" + first)
    b = SWITCHBACK.replace("    sb:", "    sb2:").replace("      burn_in: 5m\n", "      burn_in: 5m\n" + second)
    if "unit: rider_id" in b:
        b = b.replace("      unit: city\n", "", 1)
    assert run(with_switchbacks(a, b)).diagnostics == []


def test_e5035_slice_shorter_than_min_slice(run):
    text = with_switchbacks(SWITCHBACK.replace("slice: 30m", "slice: 10m"))
    one(run, text, "E5035", "10m", "slice 10m is shorter than `experiments.min_slice` (15m)",
        "use a slice of at least 15m: the metric needs time to react to a switch; lower "
        "`experiments.min_slice` only if it really reacts faster")


def test_min_slice_setting_allows_shorter_slices(run):
    text = with_switchbacks("  min_slice: 5m\n", SWITCHBACK.replace("slice: 30m", "slice: 10m"))
    assert run(text).diagnostics == []


def test_e5036_slice_does_not_tile_a_day(run):
    text = with_switchbacks(SWITCHBACK.replace("slice: 30m", "slice: 25m"))
    one(run, text, "E5036", "25m", "slice 25m neither divides a day nor is a whole number of days",
        "slices tile each local day (or span whole days); try `24m` or `30m`")


@pytest.mark.parametrize("slice_", ["15m", "1h", "8h", "1d", "3d", "1w", "48h"])
def test_slices_that_tile(run, slice_):
    assert run(with_switchbacks(SWITCHBACK.replace("slice: 30m", f"slice: {slice_}"))).diagnostics == []


def test_e5036_multi_day_slice_not_whole_days(run):
    text = with_switchbacks(SWITCHBACK.replace("slice: 30m", "slice: 36h"))
    one(run, text, "E5036", "36h", "slice 36h neither divides a day nor is a whole number of days",
        "slices tile each local day (or span whole days); try `1d` or `2d`")


def test_e5037_too_many_tickets(run):
    sb = SWITCHBACK.replace("variants: {a: {model: eta}, b: {model: eta}}",
                            "variants: {a: {model: eta, weight: 33}, b: {model: eta, weight: 33}, c: {model: eta, weight: 34}}")
    one(run, with_switchbacks(sb), "E5037", "variants: {a", "weights 33/33/34 of switchback `sb` need 100 slices per "
        "block (33:33:34) to balance exactly; at most 24 are allowed",
        "use weights with a simple ratio, e.g. equal weights (leave them out), 50/50 or 25/75")


def test_zero_switchback_weight(run):
    sb = SWITCHBACK.replace("{a: {model: eta}, b: {model: eta}}", "{a: {model: eta, weight: 100}, b: {model: eta, weight: 0}}")
    one(run, with_switchbacks(sb), "E2007", "0}}", "variant `b` of switchback `sb` has weight 0, so it never gets a slice",
        "remove the variant, or give it a weight")


def test_new_experiment_errors_reported_together(run):
    sb = SWITCHBACK.replace("slice: 30m", "slice: 7m")
    text = edit(("experiments:\n  layers:", "experiments:\n" + sb + "  layers:"),
                ("traffic: 30", "traffic: 30\n          reserve: 20\n          control: z"),
                ("unit: rider_id", "unit: distance_km")) + E2.replace("traffic: 10", "traffic: 10\n          offset: 10")
    result = run(text)
    assert result.failed_stage == "check"
    assert sorted(d.code for d in result.diagnostics) == ["E5002", "E5017", "E5032", "E5033", "E5035", "E5036", "W5108"]
    assert all(d.span is not None and d.span.file == "s.mlc.yaml" for d in result.diagnostics)


# ---------------------------------------------------------------- lowering


def test_lowered_reservations_and_tickets(run):
    sb = SWITCHBACK.replace("{a: {model: eta}, b: {model: eta}}", "{a: {model: eta, weight: 25}, b: {model: eta, weight: 75}}")
    text = edit(("experiments:\n  layers:", "experiments:\n" + sb + "  layers:"),
                ("traffic: 30", "traffic: 12.345\n          reserve: 40")) + E2 + E2.replace("e2:", "e3:").replace(
        "traffic: 10", "traffic: 5\n          offset: 90\n          control: a")
    ir = run(text).ir
    assert [(e.name, e.buckets, e.reserved, e.control) for e in ir.experiments] == [
        ("e1", (0, 1234), (0, 4000), "a"), ("e2", (4000, 5000), (4000, 5000), "a"), ("e3", (9000, 9500), (9000, 9500), "a")]
    (switchback,) = ir.switchbacks
    assert switchback.tickets == (1, 3) and switchback.control == "a"


@pytest.mark.parametrize("weights, tickets", [
    ([None, None, None], (1, 1, 1)), ([50, 50], (1, 1)), ([25, 75], (1, 3)), ([33.33, 66.67], (3333, 6667)),
    ([20, 30, 50], (2, 3, 5)), ([12.5, 87.5], (1, 7)),
])
def test_tickets(weights, tickets):
    from mlc.compiler.lower import tickets as reduce

    assert reduce(weights) == tickets
