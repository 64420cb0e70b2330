"""Impact analysis (mlc.review.impact): the example specs, edited as text, compiled in memory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from specs import MINIMAL_SPEC

from mlc.backends.experiments_config import document
from mlc.core.diagnostics import render_text
from mlc.core.ir import to_jsonable
from mlc.compiler.pipeline import build
from mlc.review.impact import deletion_errors, impacts, summary_line
from mlc.review.model import (BACKFILL, CONTRACT, DANGEROUS, DELETION, ERROR, IMPACT_KINDS, INFO,
                              REMATERIALISE, RETRAIN, TRAFFIC, Impact, Plan)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DELIVERY = ("delivery_eta", "delivery.mlc.yaml")
CTR = ("ctr_criteo", "ctr.mlc.yaml")
SHARDS = ("east", "north_west", "south")   # shards are sorted by name in the IR


def _compile(path: Path) -> tuple[dict, dict]:
    """(mldl dict, experiments config) of a spec that must compile."""
    result = build(str(path))
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    return to_jsonable(result.ir), document(result.ir)


def _example(tmp_path: Path, example: tuple[str, str], edits: tuple[tuple[str, ...], ...] = ()) -> tuple[dict, dict]:
    """Copy an example folder under ``tmp_path``, apply text edits, compile. An edit is
    ``(old, new)`` in the main spec or ``(file, old, new)`` in another file of the example."""
    folder = tmp_path / f"{example[0]}_{len(list(tmp_path.iterdir()))}"
    shutil.copytree(EXAMPLES / example[0], folder, ignore=shutil.ignore_patterns("data", "*.py"))
    for edit in edits:
        file, old, new = edit if len(edit) == 3 else (example[1], *edit)
        path = folder / file
        text = path.read_text(encoding="utf-8")
        assert old in text, f"edit target not found: {old!r}"
        path.write_text(text.replace(old, new), encoding="utf-8")
    return _compile(folder / example[1])


def _spec(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _diff(tmp_path: Path, example: tuple[str, str], *edits: tuple[str, str], base_edits=()) -> list[Impact]:
    (bm, be), (hm, he) = _example(tmp_path, example, base_edits), _example(tmp_path, example, edits)
    return impacts(bm, hm, be, he)


def _of(found: list[Impact], kind: str, level: str | None = None) -> list[Impact]:
    return [i for i in found if i.kind == kind and (level is None or i.level == level)]


def _retrained(found: list[Impact]) -> set[str]:
    return {s for i in _of(found, RETRAIN) for s in i.subjects}


def test_no_change_no_impact(tmp_path):
    assert _diff(tmp_path, DELIVERY) == []


def test_wider_hash_bucket_retrains_the_model_on_every_shard_without_contract_change(tmp_path):
    found = _diff(tmp_path, DELIVERY, ("city_id: hash_bucket(city, 64)", "city_id: hash_bucket(city, 128)"))
    assert {i.kind for i in found} == {RETRAIN}
    by_model = {i.subjects[0].split("@")[0]: i for i in found}
    assert by_model["eta_dnn"].subjects == tuple(f"eta_dnn@{s}" for s in SHARDS)
    assert by_model["eta_wide_deep"].subjects == tuple(f"eta_wide_deep@{s}" for s in SHARDS)
    assert "sparse input `city_id` buckets 64 -> 128" in by_model["eta_dnn"].reason
    assert "feature `city_id` changed" in by_model["eta_dnn"].reason


def test_window_change_of_unread_outputs_backfills_and_rematerialises_without_retrain(tmp_path):
    """The models read no `rider_performance.*_1h` output: replacing 1h by 2h recomputes the group
    (backfill) and rewrites its online records, but no model's inputs change."""
    found = _diff(tmp_path, DELIVERY, ("windows: [1h, 1d, 7d]\n    features:\n      deliveries: count()\n      avg_delivery_minutes",
                                       "windows: [2h, 1d, 7d]\n    features:\n      deliveries: count()\n      avg_delivery_minutes"))
    assert _of(found, BACKFILL) == [Impact(BACKFILL, INFO, ("rider_performance",), "windows 1h, 1d, 7d -> 2h, 1d, 7d")]
    [layout] = _of(found, REMATERIALISE)
    assert layout.subjects == ("rider_performance",)
    assert "+avg_delivery_minutes_2h" in layout.reason and "-avg_delivery_minutes_1h" in layout.reason
    assert _retrained(found) == set()
    assert _of(found, CONTRACT) == [] and _of(found, TRAFFIC) == []
    # sorted: kind order first
    assert [IMPACT_KINDS.index(i.kind) for i in found] == sorted(IMPACT_KINDS.index(i.kind) for i in found)


def test_changed_aggregation_of_a_read_output_retrains_the_models_reading_it(tmp_path):
    found = _diff(tmp_path, DELIVERY, ("      avg_prep_minutes: avg(prep_minutes)\n", "      avg_prep_minutes: max(prep_minutes)\n"))
    assert _retrained(found) == {f"{m}@{s}" for m in ("eta_dnn", "eta_wide_deep") for s in SHARDS}
    reasons = {i.reason for i in _of(found, RETRAIN)}
    assert reasons == {"feature group outputs `merchant_performance.avg_prep_minutes_1d`, "
                       "`merchant_performance.avg_prep_minutes_1h`, `merchant_performance.avg_prep_minutes_7d` changed"}
    assert [i.subjects for i in _of(found, BACKFILL)] == [("merchant_performance",)]
    assert _of(found, CONTRACT) == [] and _of(found, TRAFFIC) == []
    # sorted: kind order first
    assert [IMPACT_KINDS.index(i.kind) for i in found] == sorted(IMPACT_KINDS.index(i.kind) for i in found)


def test_training_settings_retrain_with_the_settings_named(tmp_path):
    found = _diff(tmp_path, CTR, ("      epochs: 10\n", "      epochs: 12\n"), ("l2: 0.00001", "l2: 0.0001"))
    assert found == [Impact(RETRAIN, INFO, ("ctr_deepfm",), "training.epochs 10 -> 12"),
                     Impact(RETRAIN, INFO, ("ctr_lr",), "hyperparameters.l2 1e-05 -> 0.0001")]


def test_ttl_change_rematerialises_only(tmp_path):
    found = _diff(tmp_path, DELIVERY, ("ttl: 2h\n", "ttl: 3h\n"))
    assert found == [Impact(REMATERIALISE, INFO, ("rider_load",), "ttl_seconds 7200 -> 10800")]


COMMON = "common.mlc.yaml"


def test_reordered_columns_models_and_shards_have_no_impact(tmp_path):
    found = _diff(tmp_path, DELIVERY,
                  (COMMON, "      order_id: string\n      created_at: timestamp\n", "      created_at: timestamp\n      order_id: string\n"),
                  (COMMON, "      status: string\n      prep_minutes: float64\n", "      prep_minutes: float64\n      status: string\n"),
                  ("      south:\n        partitions: [shenzhen, hong_kong]\n", ""),
                  ("      north_west:\n", "      south:\n        partitions: [shenzhen, hong_kong]\n      north_west:\n"))
    assert found == []
    spec = (EXAMPLES / DELIVERY[0] / DELIVERY[1]).read_text(encoding="utf-8")
    wide_deep = spec[spec.index("  eta_wide_deep:\n"):spec.index("deployment:\n")]
    swapped = _diff(tmp_path, DELIVERY, (wide_deep, ""), ("models:\n  eta_dnn:\n", "models:\n" + wide_deep + "  eta_dnn:\n"))
    assert swapped == []


def test_a_source_column_nothing_reads_retrains_and_backfills_nothing(tmp_path):
    found = _diff(tmp_path, DELIVERY, (COMMON, "      order_id: string\n", "      order_id: int64\n"))
    assert found == []


def test_with_on_bad_rows_drop_every_declared_column_decides_which_rows_exist(tmp_path):
    drop = (COMMON, "    path: data/orders.csv\n    event_time: created_at\n",
            "    path: data/orders.csv\n    event_time: created_at\n    on_bad_rows: drop\n")
    found = _diff(tmp_path, DELIVERY, drop, (COMMON, "      order_id: string\n", "      order_id: int64\n"), base_edits=(drop,))
    assert _retrained(found) == {f"{m}@{s}" for m in ("eta_dnn", "eta_wide_deep") for s in SHARDS}
    assert {i.subjects for i in _of(found, BACKFILL)} == {("merchant_load",), ("rider_load",), ("user_history",)}
    assert all("column `order_id` changed" in i.reason for i in _of(found, RETRAIN) + _of(found, BACKFILL))


def test_a_renamed_data_column_of_a_group_retrains_through_the_group(tmp_path):
    found = _diff(tmp_path, DELIVERY, (COMMON, "      prep_minutes: float64\n      delivery_minutes: float64",
                                       "      prep_minutes: {dtype: float64, from: prep}\n      delivery_minutes: float64"))
    assert {i.reason for i in _of(found, RETRAIN)} == {
        "source `deliveries`: column `prep_minutes` changed (read by feature group `merchant_performance`)"}
    assert _of(found, BACKFILL) == [Impact(BACKFILL, INFO, ("merchant_performance",),
                                           "source `deliveries`: column `prep_minutes` changed")]
    assert _of(found, REMATERIALISE) == [Impact(REMATERIALISE, INFO, ("merchant_performance",),
                                                "its values are recomputed (backfill)")]


def test_a_default_of_an_unread_output_backfills_and_rematerialises_without_retrain(tmp_path):
    found = _diff(tmp_path, DELIVERY, ("    ttl: 2d\n", "    ttl: 2d\n    defaults: {orders_1h: 1}\n"))
    assert found == [Impact(BACKFILL, INFO, ("merchant_load",), "default of `orders_1h` changed"),
                     Impact(REMATERIALISE, INFO, ("merchant_load",), "its values are recomputed (backfill)")]
    # rider_orders_30m reads rider_load.assigned_30m: its default reaches the models
    used = _diff(tmp_path, DELIVERY, ("    ttl: 2h\n", "    ttl: 2h\n    defaults: {assigned_30m: 1}\n"))
    assert _retrained(used) == {f"{m}@{s}" for m in ("eta_dnn", "eta_wide_deep") for s in SHARDS}
    assert {i.reason for i in _of(used, RETRAIN)} == {"feature group output `rider_load.assigned_30m` changed"}


def test_new_shard_retrains_its_models_and_the_default_shard_only(tmp_path):
    """`riyadh` was served (and trained) by the default shard `east`; a `west` shard takes it:
    its models train there for the first time and east's training rows change; the other
    shards are untouched."""
    found = _diff(tmp_path, DELIVERY, ("      south:\n        partitions: [shenzhen, hong_kong]\n",
                                       "      south:\n        partitions: [shenzhen, hong_kong]\n"
                                       "      west:\n        partitions: [riyadh]\n"))
    assert {i.kind for i in found} == {RETRAIN}
    assert _retrained(found) == {f"{m}@{s}" for m in ("eta_dnn", "eta_wide_deep") for s in ("west", "east")}
    reasons = {s: i.reason for i in found for s in i.subjects}
    assert reasons["eta_dnn@west"] == "new shard `west`"
    assert reasons["eta_dnn@east"] == "partitions routed to the default shard `east` changed"


def test_removed_shard_with_partitions_is_a_dangerous_deletion(tmp_path):
    found = _diff(tmp_path, DELIVERY, ("      south:\n        partitions: [shenzhen, hong_kong]\n", ""),
                  ("          south: {replicas: 6}\n", ""))
    [deletion] = _of(found, DELETION)
    assert deletion.level == DANGEROUS and deletion.subjects == ("south",)
    assert deletion.reason == "shard `south` removed, its traffic moves: hong_kong, shenzhen -> `east` (default shard)"
    # the default shard now also trains on south's cities
    assert _retrained(found) == {"eta_dnn@east", "eta_wide_deep@east"}


def test_ramp_within_reserve_is_traffic_info_only(tmp_path):
    found = _diff(tmp_path, CTR, ("traffic: 20 ", "traffic: 30 "))
    assert found == [Impact(TRAFFIC, INFO, ("lr_vs_deepfm",), "traffic 20 -> 30; buckets [0, 2000) -> [0, 3000)")]


def test_salt_change_is_dangerous_w5104(tmp_path):
    found = _diff(tmp_path, CTR, ("salt: ranking_model_2024q3", "salt: ranking_model_2024q4"))
    [danger] = _of(found, TRAFFIC, DANGEROUS)
    assert danger.code == "W5104" and danger.subjects == ("lr_vs_deepfm",)
    assert "reshuffled" in danger.reason
    assert _of(found, TRAFFIC, INFO)[0].reason == "salt of layer `ranking_model` `ranking_model_2024q3` -> `ranking_model_2024q4`"
    assert {i.kind for i in found} == {TRAFFIC}
    # dangerous before info
    assert found.index(danger) < found.index(_of(found, TRAFFIC, INFO)[0])


def test_widening_beyond_reserve_moves_the_next_experiment_w5105(tmp_path):
    found = _diff(tmp_path, DELIVERY, ("traffic: 40", "traffic: 50"))
    [danger] = _of(found, TRAFFIC, DANGEROUS)
    assert (danger.code, danger.subjects) == ("W5105", ("dnn_refresh",))
    assert {i.subjects for i in _of(found, TRAFFIC, INFO)} == {("dnn_refresh",), ("dnn_vs_wide_deep",)}


def test_variant_split_change_is_dangerous_w5106_located_or_not(tmp_path):
    from mlc.core.diagnostics import SourceMap
    from mlc.schemas.compose import compose

    edit = ("control: {model: eta_dnn, weight: 50}\n            treatment: {model: eta_wide_deep, weight: 50}",
            "control: {model: eta_dnn, weight: 60}\n            treatment: {model: eta_wide_deep, weight: 40}")
    (bm, be), (hm, he) = _example(tmp_path, DELIVERY), _example(tmp_path, DELIVERY, (edit,))
    head_spec = sorted(tmp_path.glob("delivery_eta_*"))[-1] / DELIVERY[1]
    root = compose(str(head_spec), SourceMap(), None).root
    found = impacts(bm, hm, be, he, head_root=root)
    assert found == impacts(bm, hm, be, he)
    [danger] = _of(found, TRAFFIC, DANGEROUS)
    assert (danger.code, danger.subjects) == ("W5106", ("dnn_vs_wide_deep",))
    [info] = _of(found, TRAFFIC, INFO)
    assert info.reason == ("variants changed (`control` weight 50 -> 60; `control` buckets [0, 5000] -> [0, 6000]; "
                           "`treatment` weight 50 -> 40; `treatment` buckets [5000, 10000] -> [6000, 10000])")


def test_switchback_schedule_change_is_dangerous_w5107(tmp_path):
    found = _diff(tmp_path, DELIVERY, ("seed: 2024", "seed: 2025"))
    assert [(i.level, i.subjects, i.code) for i in found] == [
        (DANGEROUS, ("dispatch_eta",), "W5107"), (INFO, ("dispatch_eta",), None)]
    assert found[1].reason == "seed 2024 -> 2025"


def test_experiments_documents_are_derived_from_the_ir_when_missing(tmp_path):
    (bm, be), (hm, he) = _example(tmp_path, DELIVERY), _example(tmp_path, DELIVERY, (("traffic: 40", "traffic: 50"),))
    assert impacts(bm, hm, None, None) == impacts(bm, hm, be, he)


def test_input_made_required_is_a_request_contract_change(tmp_path):
    found = _diff(tmp_path, DELIVERY, ("order_value: {dtype: float64}", "order_value: {dtype: float64, required: true}"))
    assert found == [Impact(CONTRACT, INFO, ("request",), "request field `order_value` is now required")]


def test_removed_input_is_a_request_contract_change(tmp_path):
    extra = ("order_value: {dtype: float64}\n", "order_value: {dtype: float64}\n    coupon: {dtype: string}\n")
    found = _diff(tmp_path, DELIVERY, base_edits=(extra,))
    assert found == [Impact(CONTRACT, INFO, ("request",), "request field `coupon` removed")]


def test_removed_model_input_changes_signature_and_request_fields(tmp_path):
    found = _diff(tmp_path, CTR, ("               ad_bucket, ad_reach_bucket]\n    hyperparameters:\n      embedding_dim",
                                  "               ad_bucket]\n    hyperparameters:\n      embedding_dim"))
    [contract] = _of(found, CONTRACT)
    assert contract.subjects == ("ctr_deepfm",)
    assert contract.reason == "signature inputs changed (-ad_reach_bucket)"
    [retrain] = _of(found, RETRAIN)
    assert retrain.subjects == ("ctr_deepfm",)   # unsharded: no @main
    assert retrain.reason == "sparse inputs removed: `ad_reach_bucket`"


def test_new_model_and_group_in_an_unsharded_spec(tmp_path):
    base = _compile(_spec(tmp_path, MINIMAL_SPEC, "base.yaml"))
    head_text = MINIMAL_SPEC.replace("preprocess:\n", "  rider_daily:\n    entity: rider\n    source: orders\n"
                                     "    windows: [1d]\n    features: {n: count()}\npreprocess:\n")
    head_text = head_text.replace("experiments:\n", "  eta2:\n    type: lr\n    task: regression\n    label: eta\n"
                                  "    inputs: {dense: [dist_z]}\n    training: {source: orders}\nexperiments:\n", 1)
    head = _compile(_spec(tmp_path, head_text, "head.yaml"))
    found = impacts(base[0], head[0], base[1], head[1])
    assert Impact(RETRAIN, INFO, ("eta2",), "new model") in found
    assert Impact(BACKFILL, INFO, ("rider_daily",), "new group") in found
    assert Impact(REMATERIALISE, INFO, ("rider_daily",), "new online group") in found
    assert _retrained(found) == {"eta2"}


def test_summary_line_format():
    found = [Impact(RETRAIN, INFO, ("ctr@north", "ctr@east"), "hyperparameters changed"),
             Impact(BACKFILL, INFO, ("user_activity",), "windows 1d -> 2d")]
    assert summary_line(Plan(2, 3, 1), found) == \
        "Plan: 2 to add, 3 to change, 1 to destroy · retrain (2): ctr@north, ctr@east · backfill (1): user_activity"
    assert summary_line(Plan(), []) == "No changes."
    # impacts without a counted definition change are said plainly, not as zeros
    assert summary_line(Plan(), found[1:]) == "Plan: no definition changed, derived work only · backfill (1): user_activity"
    # a side that does not compile has no plan (its deletion errors are still listed)
    assert summary_line(Plan(), [], compiled=False) == "Plan: none (a side does not compile)"


def test_summary_line_lists_every_kind_in_order_once_per_subject():
    found = [Impact(DELETION, DANGEROUS, ("south",), "r"), Impact(TRAFFIC, DANGEROUS, ("e1",), "r", "W5104"),
             Impact(TRAFFIC, INFO, ("e1",), "r"), Impact(CONTRACT, INFO, ("request",), "r"),
             Impact(REMATERIALISE, INFO, ("g",), "r")]
    assert summary_line(Plan(0, 1, 0), found) == ("Plan: 0 to add, 1 to change, 0 to destroy · re-materialise (1): g"
                                                   " · serving contract (1): request · traffic (1): e1 · deletion (1): south")
    many = [Impact(BACKFILL, INFO, tuple(f"g{i}" for i in range(12)), "r")]
    assert summary_line(Plan(0, 12, 0), many).endswith("backfill (12): g0, g1, g2, g3, g4, g5, g6, g7, g8, g9 and 2 more")


def _failed(tmp_path: Path, text: str) -> tuple[tuple[str, ...], str]:
    result = build(str(_spec(tmp_path, text, "broken.yaml")))
    assert not result.ok
    return tuple(d.code for d in result.diagnostics), render_text(result.diagnostics, result.sources)


def test_deletion_errors_name_the_removed_thing_and_its_user(tmp_path):
    base, _ = _compile(_spec(tmp_path, MINIMAL_SPEC, "base.yaml"))
    codes, text = _failed(tmp_path, MINIMAL_SPEC.replace("    log_dist: log1p(distance_km)\n", "")
                          .replace("    city_id: hash_bucket(city, 100)\n", ""))
    found = deletion_errors(base, codes, text)
    assert [(i.kind, i.level, i.subjects, i.code) for i in found] == [
        (DELETION, ERROR, ("city_id",), "E5015"), (DELETION, ERROR, ("log_dist",), "E4001")]
    assert found[0].reason.startswith("feature `city_id` removed while model `eta` still uses it (")
    assert found[1].reason.startswith("feature `log_dist` removed while feature `dist_z` still uses it (")
    assert "broken.yaml:" in found[1].reason


def test_deletion_errors_for_a_removed_group_and_unrelated_problems(tmp_path):
    base, _ = _compile(_spec(tmp_path, MINIMAL_SPEC, "base.yaml"))
    codes, text = _failed(tmp_path, MINIMAL_SPEC.replace("rider_activity:\n    entity", "rider_stats:\n    entity"))
    [found] = deletion_errors(base, codes, text)
    assert found.subjects == ("rider_activity.deliveries_1h",)
    assert "an output of feature group `rider_activity`" in found.reason and "feature `load`" in found.reason
    assert deletion_errors(base, ("E2002",), "x.yaml:1:1: error[E2002]: unknown key `foo`\n") == []
