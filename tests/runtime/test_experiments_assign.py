"""Experiment assignment (mlc.runtime.experiments: assigner, targeting, exposures) against the
normative rules of docs/experiments.md: the published hash vectors, bucket uniformity, layer
independence, ramp stability, targeting, switchbacks, routing and the exposure log."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mlc.runtime.experiments.assigner import Assigner, Assignment
from mlc.backends.experiments.config import ConfigError, ExperimentsConfig
from mlc.runtime.experiments.exposures import ExposureLog, exposure_record, read_exposures, to_line
from mlc.runtime.experiments.targeting import Targeting, TargetingError

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "docs" / "experiments-hash-vectors.json"
GENERATOR = REPO / "scripts" / "experiment_hash_vectors.py"
AT = datetime(2024, 7, 3, 9, 40, tzinfo=timezone.utc)
EXPOSURE_FIELDS = ["ts", "request_id", "config_version", "kind", "experiment", "layer", "unit", "unit_id", "bucket",
                   "variant", "model", "version", "alias", "routed", "shard", "region", "slice_start", "slice_index",
                   "burn_in"]


# ------------------------------------------------------------------ helpers: configs as dicts (format 1)


def reference_bucket(salt: str, unit) -> int:
    """The normative hash, written out with hashlib alone."""
    text = unit if isinstance(unit, str) else str(int(unit))
    digest = hashlib.sha256(salt.encode("utf-8") + b"\x00" + text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def variants_dict(weights: dict[str, float], holdout: float, models: dict[str, str] | None = None) -> list[dict]:
    """Variants splitting [0, 10000 - H) by cumulative rounded weight (docs "The hash")."""
    space, total, start, out = 10_000 - round(holdout * 100), 0.0, 0, []
    for name, weight in weights.items():
        total += weight
        end = round(space * total / 100)
        model = (models or {}).get(name, f"m_{name}")
        out.append({"name": name, "model": model, "version": None, "alias": None, "weight": weight,
                    "buckets": [start, end]})
        start = end
    return out


def experiment_dict(layer_salt: str, name: str, *, offset: float = 0, traffic: float, reserve: float | None = None,
                    holdout: float = 0.0, weights: dict | None = None, unit: str = "user_id",
                    targeting: dict | None = None, models: dict | None = None) -> dict:
    reserve = traffic if reserve is None else reserve
    start = round(offset * 100)
    return {"name": name, "unit": unit, "salt": f"{layer_salt}:{name}", "traffic": float(traffic),
            "buckets": [start, start + round(traffic * 100)], "reserved": [start, start + round(reserve * 100)],
            "holdout": float(holdout), "control": "control", "targeting": targeting, "targeting_source": None,
            "variants": variants_dict(weights or {"control": 50, "treatment": 50}, holdout, models)}


def layer_dict(name: str, *experiments: dict, salt: str | None = None) -> dict:
    return {"name": name, "salt": salt or name, "experiments": list(experiments)}


def config_dict(layers=(), switchbacks=()) -> dict:
    return {"format": 1, "spec": "tests", "config_version": "cfg-1", "hash": {"function": "sha256", "buckets": 10000},
            "layers": list(layers), "switchbacks": list(switchbacks)}


def assigner_for(layers=(), switchbacks=()) -> Assigner:
    return Assigner(ExperimentsConfig.from_json(config_dict(layers, switchbacks)))


def targeting_tree(source: str, **dtypes: str) -> dict:
    """A targeting tree as mlc compile writes it (typed, constant-folded mldl.json form)."""
    from mlc.dsl import MappingScope, check_text, parse_dtype, to_json

    typed, issues = check_text(source, MappingScope({k: parse_dtype(v) for k, v in dtypes.items()}), "condition")
    assert not issues, issues
    return to_json(typed)


def by_layer(assignments) -> dict:
    return {a.layer: a for a in assignments if a.kind == "layer"}


def chi_square_p(statistic: float, dof: int) -> float:
    """Upper-tail p of a chi-square by the Wilson-Hilferty normal approximation."""
    z = ((statistic / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))


def within_binomial(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def load_generator():
    spec = importlib.util.spec_from_file_location("experiment_hash_vectors", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ published vectors


def test_published_vectors_equal_a_regeneration():
    assert VECTORS.read_text(encoding="utf-8") == load_generator().render()


def test_each_hash_vector_recomputed_with_hashlib():
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]
    for v in vectors:
        text = v["unit"] if isinstance(v["unit"], str) else str(v["unit"])
        assert v["unit_text"] == text
        digest = hashlib.sha256((v["salt"] + "\x00" + text).encode("utf-8")).digest()
        value = int.from_bytes(digest[:8], "big")
        assert v["hash64"] == str(value) and v["bucket"] == value % 10_000, v
    units = [v["unit"] for v in vectors]
    for required in ("ユーザー", "café", "🙂", "", 2 ** 63 - 1, -(2 ** 63 - 1), -1):
        assert required in units
    assert any(":" in v["salt"] for v in vectors)
    assert len({v["bucket"] for v in vectors}) > len(vectors) * 0.9       # not a constant function


def test_assignment_vectors_recomputed_independently():
    """The full-assignment vectors, re-derived with hashlib and the doc's rules (no Assigner)."""
    published = json.loads(VECTORS.read_text(encoding="utf-8"))["assignments"]
    config, outcomes = published["config"], Counter()
    for request in published["requests"]:
        fields = request["fields"]
        for layer in config["layers"]:
            expected = request["expected"]["layers"][layer["name"]]
            assert expected == reference_layer(layer, fields), (fields, layer["name"])
            outcomes[reference_outcome(layer, fields, expected)] += 1
    assert {"variant", "holdout", "targeting_false", "outside_range", "no_unit"} <= set(outcomes)


def reference_layer(layer: dict, fields: dict) -> dict | None:
    for experiment in layer["experiments"]:
        unit = fields.get(experiment["unit"])
        if unit is None or isinstance(unit, (bool, float)):
            continue
        layer_bucket = reference_bucket(layer["salt"], unit)
        start, end = experiment["buckets"]
        if not start <= layer_bucket < end:
            continue
        if experiment["targeting"] is not None and fields.get("city") != "beijing":   # city in ['beijing']
            continue
        variant_bucket = reference_bucket(experiment["salt"], unit)
        variant = next((v["name"] for v in experiment["variants"]
                        if v["buckets"][0] <= variant_bucket < v["buckets"][1]), "holdout")
        text = unit if isinstance(unit, str) else str(unit)
        return {"experiment": experiment["name"], "unit_id": text, "bucket": layer_bucket, "variant": variant}
    return None


def reference_outcome(layer: dict, fields: dict, expected: dict | None) -> str:
    if expected is not None:
        return "holdout" if expected["variant"] == "holdout" else "variant"
    units = [fields.get(e["unit"]) for e in layer["experiments"]]
    if all(u is None or isinstance(u, float) for u in units):
        return "no_unit"
    in_range = any(e["buckets"][0] <= reference_bucket(layer["salt"], fields[e["unit"]]) < e["buckets"][1]
                   for e in layer["experiments"] if isinstance(fields.get(e["unit"]), (int, str)))
    return "targeting_false" if in_range else "outside_range"


def test_switchback_vectors_agree_with_the_schedule():
    from mlc.runtime.experiments.switchback import Schedule

    published = json.loads(VECTORS.read_text(encoding="utf-8"))["assignments"]
    config = ExperimentsConfig.from_json(published["config"])
    schedule = Schedule(config.switchbacks[0])
    seen = Counter()
    for request in published["requests"]:
        expected = request["expected"]["switchbacks"]["dispatch_eta"]
        at = datetime.fromisoformat(request["at"].replace("Z", "+00:00"))
        placed = schedule.assign(request["fields"]["city"], at) if request["fields"].get("city") else None
        placed = placed if request["fields"].get("city") in ("beijing", "riyadh") else None
        if placed is None:
            assert expected is None
            continue
        slice_, variant, burn_in = placed
        assert expected == {"region": request["fields"]["city"], "variant": variant.name,
                            "slice_index": slice_.index, "slice_start": slice_.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "burn_in": burn_in}
        seen[(variant.name, burn_in)] += 1
    assert len(seen) == 4        # both variants, in and out of burn-in


# ------------------------------------------------------------------ statistical properties of the hash


def test_bucket_uniformity_chi_square():
    counts = [0] * 10_000
    salt = b"uniformity_layer\x00"
    sha256 = hashlib.sha256
    for unit in range(1_000_000):
        counts[int.from_bytes(sha256(salt + str(unit).encode()).digest()[:8], "big") % 10_000] += 1
    expected = 100.0
    statistic = sum((c - expected) ** 2 for c in counts) / expected
    dof = 9_999
    z = (statistic - dof) / math.sqrt(2 * dof)           # normal approximation of chi-square(9999)
    p_upper = 0.5 * math.erfc(z / math.sqrt(2))
    assert p_upper > 1e-4, (statistic, z)
    assert z > -4.0, "too uniform to be a hash"


def two_layer_assigner() -> Assigner:
    layer_a = layer_dict("layer_a", experiment_dict("layer_a", "a1", traffic=50, weights={"control": 50, "t": 50}),
                         experiment_dict("layer_a", "a2", offset=50, traffic=30))
    layer_b = layer_dict("layer_b", experiment_dict("layer_b", "b1", traffic=30, holdout=10,
                                                    weights={"control": 30, "t1": 30, "t2": 40}),
                         experiment_dict("layer_b", "b2", offset=30, traffic=40))
    return assigner_for([layer_a, layer_b])


def label(assignment) -> str:
    return "-" if assignment is None else f"{assignment.experiment}/{assignment.variant}"


def test_layers_are_independent():
    assigner = two_layer_assigner()
    table: Counter = Counter()
    for unit in range(200_000):
        layers = by_layer(assigner.assign({"user_id": unit}, AT))
        table[(label(layers.get("layer_a")), label(layers.get("layer_b")))] += 1
    rows = sorted({a for a, _ in table})
    cols = sorted({b for _, b in table})
    n = sum(table.values())
    row_totals = {r: sum(table[(r, c)] for c in cols) for r in rows}
    col_totals = {c: sum(table[(r, c)] for r in rows) for c in cols}
    statistic = sum((table[(r, c)] - row_totals[r] * col_totals[c] / n) ** 2 / (row_totals[r] * col_totals[c] / n)
                    for r in rows for c in cols)
    dof = (len(rows) - 1) * (len(cols) - 1)
    assert len(rows) == 5 and len(cols) == 7          # '-', a1/control, a1/t, a2/control, a2/treatment ...
    assert chi_square_p(statistic, dof) > 1e-4, (statistic, dof)

    in_a = [r for r in rows if r.startswith("a1/")]
    in_b = [c for c in cols if c.startswith("b1/")]
    n_a = sum(row_totals[r] for r in in_a)
    p_b = sum(col_totals[c] for c in in_b) / n
    both = sum(table[(r, c)] for r in in_a for c in in_b)
    assert within_binomial(both, n_a, p_b), (both / n_a, p_b)           # P(B | A) ~ P(B)


# ------------------------------------------------------------------ ramping, exclusion, splits


def ramp_assigner(traffic: float) -> Assigner:
    layer = layer_dict("ranking",
                       experiment_dict("ranking", "first", traffic=traffic, reserve=40, holdout=5),
                       experiment_dict("ranking", "second", offset=40, traffic=20),
                       salt="ranking_2024q3")
    return assigner_for([layer])


def assign_many(assigner: Assigner, units) -> dict:
    out = {}
    for unit in units:
        layer = by_layer(assigner.assign({"user_id": unit}, AT)).get("ranking")
        if layer is not None:
            out[unit] = (layer.experiment, layer.variant)
    return out


def test_ramping_up_keeps_every_assigned_unit():
    units = range(50_000)
    steps = [assign_many(ramp_assigner(traffic), units) for traffic in (5, 10, 25, 40)]
    for before, after in zip(steps, steps[1:]):
        for unit, assigned in before.items():
            assert after[unit] == assigned                 # nobody leaves or changes variant
        joined = set(after) - set(before)
        assert joined and all(after[u][0] == "first" for u in joined)      # only new units join `first`
    firsts = [sum(1 for e, _ in step.values() if e == "first") for step in steps]
    for count, traffic in zip(firsts, (5, 10, 25, 40)):
        assert within_binomial(count, len(units), traffic / 100)
    seconds = [{u: a for u, a in step.items() if a[0] == "second"} for step in steps]
    assert all(s == seconds[0] for s in seconds)           # the neighbour never moves


def test_ramping_down_then_up_restores_the_same_units():
    units = range(30_000)
    high = assign_many(ramp_assigner(30), units)
    low = assign_many(ramp_assigner(10), units)
    assert set(low) < set(high) and all(high[u] == a for u, a in low.items())
    assert assign_many(ramp_assigner(30), units) == high


def test_experiments_of_a_layer_exclude_each_other():
    layer = layer_dict("l", experiment_dict("l", "e1", traffic=20), experiment_dict("l", "e2", offset=20, traffic=30),
                       experiment_dict("l", "e3", offset=50, traffic=50))
    assigner, n = assigner_for([layer]), 40_000
    members: dict[str, set] = {"e1": set(), "e2": set(), "e3": set()}
    for unit in range(n):
        found = assigner.assign({"user_id": unit}, AT)
        assert len(found) == 1                              # 100% of the layer is allocated, once
        members[found[0].experiment].add(unit)
        assert reference_bucket("l", unit) in range(*{"e1": (0, 2000), "e2": (2000, 5000),
                                                      "e3": (5000, 10000)}[found[0].experiment])
    assert not (members["e1"] & members["e2"] or members["e1"] & members["e3"] or members["e2"] & members["e3"])
    for name, share in (("e1", 0.2), ("e2", 0.3), ("e3", 0.5)):
        assert within_binomial(len(members[name]), n, share)


def test_holdout_and_variant_weights_match_the_config():
    weights = {"control": 20, "t1": 30, "t2": 50}
    layer = layer_dict("l", experiment_dict("l", "e", traffic=100, holdout=10, weights=weights))
    assigner, n = assigner_for([layer]), 60_000
    counts = Counter(a.variant for unit in range(n) for a in assigner.assign({"user_id": f"u{unit}"}, AT))
    assert sum(counts.values()) == n
    assert within_binomial(counts["holdout"], n, 0.10)
    for name, weight in weights.items():
        assert within_binomial(counts[name], n, 0.9 * weight / 100), (name, counts)
    holdout = next(a for u in range(200) for a in assigner.assign({"user_id": f"u{u}"}, AT) if a.variant == "holdout")
    assert (holdout.model, holdout.version, holdout.alias) == (None, None, None)


def test_variant_hash_is_independent_of_the_active_range():
    """The variant of a unit depends on the experiment salt only (ramp-safe by construction)."""
    a = assigner_for([layer_dict("l", experiment_dict("l", "e", traffic=10, reserve=100))])
    b = assigner_for([layer_dict("l", experiment_dict("l", "e", traffic=100))])
    for unit in range(5_000):
        left = a.assign({"user_id": unit}, AT)
        if left:
            assert left == b.assign({"user_id": unit}, AT)
            assert left[0].variant == ("control" if reference_bucket("l:e", unit) < 5000 else "treatment")


# ------------------------------------------------------------------ units


@pytest.mark.parametrize("value", [None, 1.5, 2.0, True, False, [1], {"a": 1}, 2 ** 63, -(2 ** 63) - 1, "a\x00b",
                                   "\ud800"])
def test_unusable_unit_values_are_in_no_experiment(value):
    assigner = assigner_for([layer_dict("l", experiment_dict("l", "e", traffic=100))])
    assert assigner.assign({"user_id": value}, AT) == []
    assert assigner.assign({}, AT) == []


def test_integer_and_string_units_hash_as_their_text():
    assigner = assigner_for([layer_dict("l", experiment_dict("l", "e", traffic=100))])
    for unit in (0, 7, -42, 2 ** 63 - 1, -(2 ** 63)):
        [found] = assigner.assign({"user_id": unit}, AT)
        assert found.unit_id == str(unit) and found == assigner.assign({"user_id": str(unit)}, AT)[0]
        assert found.bucket == reference_bucket("l", unit)


def test_mixed_unit_fields_in_one_layer():
    layer = layer_dict("l", experiment_dict("l", "by_user", traffic=50),
                       experiment_dict("l", "by_device", offset=50, traffic=50, unit="device_id"))
    assigner = assigner_for([layer])
    for unit in range(500):
        user_bucket, device_bucket = reference_bucket("l", unit), reference_bucket("l", f"d{unit}")
        found = [a.experiment for a in assigner.assign({"user_id": unit, "device_id": f"d{unit}"}, AT)]
        assert found == (["by_user"] if user_bucket < 5000 else ["by_device"] if device_bucket >= 5000 else [])
    # without the first experiment's unit, the second can still assign
    assert all(a.experiment == "by_device" for u in range(200) for a in assigner.assign({"device_id": f"d{u}"}, AT))


def test_load_reads_config_json(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config_dict([layer_dict("l", experiment_dict("l", "e", traffic=100))])))
    assigner = Assigner.load(str(path))
    assert assigner.config_version == "cfg-1" and assigner.assign({"user_id": 1}, AT)[0].experiment == "e"


# ------------------------------------------------------------------ targeting


def test_targeting_in_list():
    t = Targeting(targeting_tree("city in ['beijing']", city="string"))
    assert t.inputs == {"city": "string"}
    assert t.matches({"city": "beijing"}) and not t.matches({"city": "shanghai"})
    assert not t.matches({"city": None}) and not t.matches({})            # null -> false


def test_targeting_not_is_null():
    t = Targeting(targeting_tree("not is_null(user_id)", user_id="int64"))
    assert t.matches({"user_id": 7}) and t.matches({"user_id": 0})
    assert not t.matches({"user_id": None}) and not t.matches({})


def test_targeting_numeric_comparisons():
    t = Targeting(targeting_tree("age >= 18 and score < 0.5", age="int64", score="float64"))
    assert t.matches({"age": 18, "score": 0.25}) and t.matches({"age": 30, "score": 0})
    assert not t.matches({"age": 17, "score": 0.25}) and not t.matches({"age": 40, "score": 0.5})
    assert not t.matches({"age": 20})                         # missing score: null and true -> null -> false
    assert Targeting(targeting_tree("age > 3 or score > 1", age="int64", score="float64")).matches({"age": 4})
    assert Targeting(targeting_tree("coalesce(age, 0) == 0", age="int64")).matches({})


def test_targeting_with_a_wrongly_typed_value_is_false_not_an_error():
    t = Targeting(targeting_tree("age >= 18", age="int64"))
    for value in ("20", True, 20.5, [20], {"a": 1}, 2 ** 70):
        assert t.matches({"age": value}) is False
    assert t.matches({"age": 20.0})                           # an integral number is an int64, as in serving


def test_targeting_functions_and_timestamps():
    t = Targeting(targeting_tree("lower(country) == 'de' and length(name) > 2", country="string", name="string"))
    assert t.matches({"country": "DE", "name": "anna"}) and not t.matches({"country": "DE", "name": "jo"})
    late = Targeting(targeting_tree("hour(ts) >= 12", ts="timestamp"))
    assert late.matches({"ts": "2024-07-01T13:00:00Z"}) and not late.matches({"ts": "2024-07-01T09:00:00Z"})
    assert late.matches({"ts": datetime(2024, 7, 1, 13, tzinfo=timezone.utc)}) and not late.matches({"ts": "noon"})


def test_targeting_agrees_with_the_preprocessing_executor():
    """Row-at-a-time targeting == the generated-code path on a NumpyOps batch (codegen semantics)."""
    from mlc.backends.preprocess.codegen import Generator
    from mlc.runtime.numpy_ops import NumpyOps, Vec

    dtypes = {"city": "string", "age": "int64", "score": "float64"}
    source = "(city in ['beijing', 'riyadh'] or age % 7 == 3) and coalesce(score, 0.0) * 2 < 1.5 and age - 40 < 0"
    tree = targeting_tree(source, **dtypes)
    rows = [{"city": c, "age": a, "score": s}
            for c in ("beijing", "riyadh", "x", None) for a in (None, 3, 10, 17, 45) for s in (None, 0.1, 0.7, 1.0)]
    columns = {name: Vec.of([row[name] for row in rows], dtype) for name, dtype in dtypes.items()}
    code = Generator({name: f"ops.input({name!r}, {dtype!r})" for name, dtype in dtypes.items()}, []).render(tree)
    batch = eval(code, {"ops": NumpyOps(columns, len(rows))})        # noqa: S307 - generated from a typed tree
    expected = [bool(v) for v in (x if x is not None else False for x in batch.to_list())]
    targeting = Targeting(tree)
    assert [targeting.matches(row) for row in rows] == expected
    assert 0 < sum(expected) < len(rows)


def test_targeting_refuses_unknown_functions_and_analyzers():
    ref = {"kind": "ref", "dtype": "string", "name": "city"}
    with pytest.raises(TargetingError, match="no_such_fn"):
        Targeting({"kind": "call", "dtype": "bool", "function": "no_such_fn", "args": [ref]})
    with pytest.raises(TargetingError, match="fitted"):
        Targeting({"kind": "call", "dtype": "float64", "function": "standardize", "args": [ref]})
    with pytest.raises(TargetingError):
        Targeting({"kind": "lambda", "dtype": "bool"})
    with pytest.raises(TargetingError, match="bool expression"):
        Targeting({"kind": "ref", "dtype": "int64", "name": "age"})
    with pytest.raises(TargetingError):
        Targeting({"kind": "ref", "dtype": "list<string>", "name": "tags"})
    doc = config_dict([layer_dict("l", experiment_dict("l", "e", traffic=100, targeting={
        "kind": "call", "dtype": "bool", "function": "exec", "args": [ref]}))])
    with pytest.raises(ConfigError, match="experiment `e`: targeting"):
        Assigner(ExperimentsConfig.from_json(doc))


def test_false_or_null_targeting_means_not_assigned():
    targeting = targeting_tree("city in ['beijing'] and not is_null(user_id)", city="string", user_id="int64")
    layer = layer_dict("l", experiment_dict("l", "e", traffic=100, targeting=targeting))
    assigner = assigner_for([layer])
    assert assigner.assign({"user_id": 3, "city": "beijing"}, AT)[0].experiment == "e"
    assert assigner.assign({"user_id": 3, "city": "shanghai"}, AT) == []
    assert assigner.assign({"user_id": 3}, AT) == []                    # missing field -> null -> false
    assert assigner.assign({"user_id": 3, "city": 5}, AT) == []         # mistyped -> false, no error


def test_targeting_false_lets_a_later_experiment_on_another_unit_match():
    targeted = experiment_dict("l", "beijing_only", traffic=100, targeting=targeting_tree("city == 'beijing'",
                                                                                         city="string"))
    fallback = experiment_dict("l", "everyone", traffic=100, unit="device_id")
    assigner = assigner_for([layer_dict("l", targeted, fallback)])
    assert assigner.assign({"user_id": 1, "device_id": "d", "city": "beijing"}, AT)[0].experiment == "beijing_only"
    assert assigner.assign({"user_id": 1, "device_id": "d", "city": "x"}, AT)[0].experiment == "everyone"


# ------------------------------------------------------------------ switchbacks through the Assigner


def switchback_dict(**overrides) -> dict:
    doc = {"name": "dispatch_eta", "unit": "city", "slice_seconds": 1800, "burn_in_seconds": 300, "seed": 2024,
           "timezone": "Asia/Shanghai", "regions": {"beijing": "Asia/Shanghai", "riyadh": "Asia/Riyadh"},
           "start": "2024-07-01T00:00:00Z", "end": "2024-07-15T00:00:00Z", "control": "control",
           "targeting": None, "targeting_source": None, "tickets": [1, 1],
           "variants": [{"name": "control", "model": "eta_dnn", "version": None, "alias": None, "weight": 50.0},
                        {"name": "treatment", "model": "eta_wide_deep", "version": 2, "alias": None,
                         "weight": 50.0}]}
    doc.update(overrides)
    return doc


def test_switchback_assignment_covered_region():
    from mlc.runtime.experiments.switchback import Schedule

    assigner = assigner_for(switchbacks=[switchback_dict()])
    schedule = Schedule(assigner.config.switchbacks[0])
    seen = set()
    for minutes in range(0, 24 * 60, 30):
        at = datetime(2024, 7, 2, tzinfo=timezone.utc) + timedelta(minutes=minutes + 10)
        [found] = assigner.assign({"city": "beijing"}, at)
        slice_, variant, burn_in = schedule.assign("beijing", at)
        assert (found.kind, found.experiment, found.layer, found.unit, found.unit_id, found.bucket) == \
            ("switchback", "dispatch_eta", None, "city", "beijing", None)
        assert (found.variant, found.model, found.version) == (variant.name, variant.model, variant.version)
        assert (found.region, found.slice_start, found.slice_index, found.burn_in) == \
            ("beijing", slice_.start, slice_.index, False)
        assert found.slice_start <= at < found.slice_start + timedelta(minutes=30)
        seen.add(found.variant)
    assert seen == {"control", "treatment"}


def test_switchback_uncovered_region_and_outside_the_period():
    assigner = assigner_for(switchbacks=[switchback_dict()])
    assert assigner.assign({"city": "shanghai"}, AT) == []
    assert assigner.assign({}, AT) == [] and assigner.assign({"city": None}, AT) == []
    assert assigner.assign({"city": 1.5}, AT) == []
    assert assigner.assign({"city": "beijing"}, datetime(2024, 6, 30, 23, 59, tzinfo=timezone.utc)) == []
    assert assigner.assign({"city": "beijing"}, datetime(2024, 7, 15, tzinfo=timezone.utc)) == []
    assert len(assigner.assign({"city": "beijing"}, datetime(2024, 7, 14, 23, 59, tzinfo=timezone.utc))) == 1
    everywhere = assigner_for(switchbacks=[switchback_dict(regions={})])
    assert everywhere.assign({"city": "shanghai"}, AT)[0].region == "shanghai"


def test_switchback_burn_in_flag():
    assigner = assigner_for(switchbacks=[switchback_dict()])
    start = datetime(2024, 7, 3, 9, 30, tzinfo=timezone.utc)
    flags = [assigner.assign({"city": "riyadh"}, start + timedelta(seconds=s))[0].burn_in for s in (0, 299, 300, 1799)]
    assert flags == [True, True, False, False]
    naive = assigner.assign({"city": "riyadh"}, datetime(2024, 7, 3, 9, 31))[0]      # naive = UTC
    assert naive.burn_in is True and naive.slice_start == start


def test_switchback_targeting_and_order_before_layers():
    tree = targeting_tree("platform == 'ios'", platform="string")
    assigner = assigner_for([layer_dict("l", experiment_dict("l", "e", traffic=100))],
                            [switchback_dict(targeting=tree)])
    kinds = [a.kind for a in assigner.assign({"city": "beijing", "platform": "ios", "user_id": 1}, AT)]
    assert kinds == ["switchback", "layer"]
    assert [a.kind for a in assigner.assign({"city": "beijing", "platform": "web", "user_id": 1}, AT)] == ["layer"]


def test_assign_defaults_to_now():
    assigner = assigner_for(switchbacks=[switchback_dict(start=None, end=None)])
    [found] = assigner.assign({"city": "beijing"})
    assert abs(found.slice_start - datetime.now(timezone.utc)) < timedelta(minutes=31)


def test_bad_switchback_zone_is_a_config_error():
    with pytest.raises(ConfigError, match="dispatch_eta"):
        assigner_for(switchbacks=[switchback_dict(regions={"x": "Mars/Olympus"})])


# ------------------------------------------------------------------ routing


def layer_assignment(experiment, model, variant="treatment", layer="l") -> Assignment:
    return Assignment("layer", experiment, layer, "user_id", "7", 12, variant, model, None, None)


def test_route_switchbacks_before_layers():
    assigner = assigner_for([layer_dict("l", experiment_dict("l", "e", traffic=100,
                                                             models={"control": "eta_dnn", "treatment": "eta_dnn"}))],
                            [switchback_dict()])
    assignments = assigner.assign({"city": "beijing", "user_id": 4}, AT)
    assert [a.kind for a in assignments] == ["switchback", "layer"]
    assert assigner.route(assignments, ["eta_dnn", "eta_wide_deep"]).kind == "switchback"
    assert assigner.route(assignments, ["eta_dnn", "eta_wide_deep"]) is assignments[0]


def test_route_skips_unserved_models_and_follows_the_requested_model():
    assigner = assigner_for()
    first, second = layer_assignment("a", "m1", layer="l1"), layer_assignment("b", "m2", layer="l2")
    assert assigner.route([first, second], ["m1", "m2"]) is first
    assert assigner.route([first, second], ["m2"]) is second                 # m1 not served by the shard
    assert assigner.route([first, second], ["m1", "m2"], requested_model="m2") is second
    assert assigner.route([first, second], ["m1", "m2"], requested_model="m3") is None
    assert assigner.route([first, second], []) is None
    assert assigner.route([], ["m1"]) is None


def test_holdout_never_routes():
    assigner = assigner_for()
    holdout = Assignment("layer", "a", "l1", "user_id", "7", 1, "holdout", None, None, None)
    later = layer_assignment("b", "m2", layer="l2")
    assert assigner.route([holdout], ["m1", "m2"]) is None
    assert assigner.route([holdout], ["m1"], requested_model=None) is None
    assert assigner.route([holdout, later], ["m2"]) is later


# ------------------------------------------------------------------ exposure log


def sample_assignments() -> list[Assignment]:
    switchback = Assignment("switchback", "dispatch_eta", None, "city", "beijing", None, "treatment", "eta_wide",
                            2, None, region="beijing", slice_start=datetime(2024, 7, 3, 9, 30, tzinfo=timezone.utc),
                            slice_index=35, burn_in=False)
    return [switchback, Assignment("layer", "lr_vs_deepfm", "ranking", "user_id", "ユーザー", 1234, "holdout", None,
                                   None, None),
            Assignment("layer", "wide", "eta", "user_id", "7", 42, "control", "ctr_lr", None, "candidate")]


def test_exposure_record_fields_in_documented_order():
    switchback, holdout, layer = sample_assignments()
    ts = datetime(2024, 7, 3, 9, 40, 1, 123456, tzinfo=timezone.utc)
    record = exposure_record(switchback, ts=ts, request_id="r-1", config_version="cfg-1", routed=True, shard="s0")
    assert list(record) == EXPOSURE_FIELDS
    assert record == {"ts": "2024-07-03T09:40:01.123Z", "request_id": "r-1", "config_version": "cfg-1",
                      "kind": "switchback", "experiment": "dispatch_eta", "layer": None, "unit": "city",
                      "unit_id": "beijing", "bucket": None, "variant": "treatment", "model": "eta_wide", "version": 2,
                      "alias": None, "routed": True, "shard": "s0", "region": "beijing",
                      "slice_start": "2024-07-03T09:30:00Z", "slice_index": 35, "burn_in": False}
    record = exposure_record(holdout, ts=datetime(2024, 7, 3, 17, 40, tzinfo=timezone(timedelta(hours=8))),
                             request_id=None, config_version="cfg-1", routed=False, shard=None)
    assert record["ts"] == "2024-07-03T09:40:00.000Z" and record["variant"] == "holdout" and record["model"] is None
    assert (record["region"], record["slice_start"], record["slice_index"], record["burn_in"]) == (None,) * 4
    line = to_line(record)
    assert line.endswith("\n") and "\n" not in line[:-1] and "ユーザー" in line and ", " not in line
    assert json.loads(line) == record and list(json.loads(line)) == EXPOSURE_FIELDS


def test_write_all_marks_the_routed_assignment(tmp_path):
    path = tmp_path / "exposures.jsonl"
    assignments = sample_assignments()
    with ExposureLog(str(path)) as log:
        log.write_all(assignments, ts=AT, request_id="r1", config_version="c", routed_assignment=assignments[2],
                      shard="default")
        log.write_all(assignments[:1], ts=AT, request_id=None, config_version="c", routed_assignment=None, shard=None)
        log.write_all([], ts=AT, request_id="r3", config_version="c", routed_assignment=None, shard=None)
    records = list(read_exposures(str(path)))
    assert [(r["experiment"], r["routed"], r["request_id"]) for r in records] == [
        ("dispatch_eta", False, "r1"), ("lr_vs_deepfm", False, "r1"), ("wide", True, "r1"),
        ("dispatch_eta", False, None)]
    with ExposureLog(str(path)) as log:                    # appends
        log.write_all(assignments[:1], ts=AT, request_id="r4", config_version="c", routed_assignment=None, shard=None)
    assert len(list(read_exposures(str(path)))) == 5


def test_exposure_log_callable_sink():
    received = []
    log = ExposureLog(received.append)
    assignments = sample_assignments()
    log.write_all(assignments, ts=AT, request_id="r", config_version="c", routed_assignment=assignments[0], shard="s")
    assert [r["routed"] for r in received] == [True, False, False] and list(received[0]) == EXPOSURE_FIELDS


def test_exposure_log_from_four_threads_writes_whole_lines(tmp_path):
    path = tmp_path / "exposures.jsonl"
    log = ExposureLog(str(path))
    assignments = sample_assignments()
    per_thread = 300

    def write(thread: int) -> None:
        for i in range(per_thread):
            log.write_all(assignments, ts=AT, request_id=f"t{thread}-{i}" + "x" * 500, config_version="c",
                          routed_assignment=assignments[i % 3], shard=f"s{thread}")

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    records = list(read_exposures(str(path)))
    assert len(records) == 4 * per_thread * 3
    by_request = Counter(r["request_id"] for r in records)
    assert len(by_request) == 4 * per_thread and set(by_request.values()) == {3}
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(line.startswith(b'{"ts":') and line.endswith(b"}") for line in lines[:-1])
    for i in range(0, len(records), 3):                    # one request's lines stay together
        assert len({r["request_id"] for r in records[i:i + 3]}) == 1
    with pytest.raises(ValueError, match="closed"):
        log.write_all(assignments, ts=AT, request_id="late", config_version="c", routed_assignment=None, shard=None)


@pytest.mark.parametrize("bad, message", [(b'{"ts": "x", "kind"\n', "not a JSON object"),
                                          (b"[1, 2]\n", "expected a JSON object"),
                                          (b'{"a": "\xff"}\n', "not UTF-8")])
def test_read_exposures_names_the_bad_line(tmp_path, bad, message):
    path = tmp_path / "exposures.jsonl"
    good = to_line(exposure_record(sample_assignments()[1], ts=AT, request_id="r", config_version="c", routed=False,
                                   shard=None)).encode("utf-8")
    path.write_bytes(good + b"\n" + good + bad + good)
    reader = read_exposures(str(path))
    assert next(reader)["unit_id"] == "ユーザー" and next(reader)["bucket"] == 1234
    with pytest.raises(ValueError, match=rf"^{path}:4: {message}"):
        next(reader)


# ------------------------------------------------------------------ throughput (measured, not asserted)


def five_layer_assigner() -> Assigner:
    targeting = targeting_tree("city in ['beijing', 'shanghai'] and not is_null(user_id)", city="string",
                               user_id="int64")
    layers = []
    for i in range(5):
        name = f"layer{i}"
        layers.append(layer_dict(name, experiment_dict(name, "a", traffic=50, targeting=targeting if i == 0 else None),
                                 experiment_dict(name, "b", offset=50, traffic=50, holdout=5)))
    return assigner_for(layers)


def test_assignment_throughput(capsys):
    assigner = five_layer_assigner()
    fields = [{"user_id": u, "city": "beijing"} for u in range(5_000)]
    for request in fields[:200]:                            # warm up
        assigner.assign(request, AT)
    began = time.perf_counter()
    found = sum(len(assigner.assign(request, AT)) for request in fields)
    rate = len(fields) / (time.perf_counter() - began)
    assert found == 5 * len(fields)
    with capsys.disabled():
        print(f"\n[experiments] {rate:,.0f} assignments/s (one request, 5 layers x 2 experiments, one targeted)")
