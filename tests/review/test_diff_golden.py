"""`mlc diff` on a series of realistic edits of the delivery example, in all three formats,
compared byte for byte with golden files (tests/golden/diffs/<case>.<txt|md|json>; rewrite with
MLC_UPDATE_GOLDEN=1) AND re-read by their consumers: the JSON parsed, the Markdown parsed by
markdown-it (well-formed: balanced blocks, closed fences, only the allowed raw HTML)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import EXAMPLES, REPO, compare_golden, run_mlc

DELIVERY = EXAMPLES / "delivery_eta"
SPEC = "delivery.mlc.yaml"
GOLDEN = REPO / "tests" / "golden" / "diffs"
FORMATS = {"text": "txt", "markdown": "md", "json": "json"}

COMMON = "common.mlc.yaml"


def _wide_deep_first() -> tuple[str, str]:
    """The edit that declares `eta_wide_deep` before `eta_dnn` (the models mapping reordered)."""
    spec = (DELIVERY / SPEC).read_text(encoding="utf-8")
    dnn, wide_deep = spec.index("  eta_dnn:\n"), spec.index("  eta_wide_deep:\n")
    block = spec[dnn:spec.index("deployment:\n")]
    return block, block[wide_deep - dnn:] + block[:wide_deep - dnn]


MOVE_WIDE_DEEP_FIRST = _wide_deep_first()

# case -> (edits of delivery.mlc.yaml, or (file, old, new) of another file of the example; expected exit code)
CASES = {
    "add_feature": ((
        ("    city_id: hash_bucket(city, 64)\n",
         "    city_id: hash_bucket(city, 64)\n    is_rainy: to_float(weather in ['rain', 'storm'])\n"),
        ("              user_orders_7d_z]\n      sparse: [city_id, weather_id, rider_bucket, merchant_bucket, distance_bucket, day_part,\n"
         "               dow_id, prep_bucket, city_x_hour, weather_x_distance, peak_x_distance]\n    hyperparameters:\n      embedding_dim: 8\n      hidden_units: [256",
         "              user_orders_7d_z, is_rainy]\n      sparse: [city_id, weather_id, rider_bucket, merchant_bucket, distance_bucket, day_part,\n"
         "               dow_id, prep_bucket, city_x_hour, weather_x_distance, peak_x_distance]\n    hyperparameters:\n      embedding_dim: 8\n      hidden_units: [256"),
    ), 1),
    "change_window": ((
        ("    windows: [7d]\n", "    windows: [14d]\n"),
        ("user_history.orders_7d", "user_history.orders_14d"),
    ), 1),
    "widen_hash_bucket": ((("hash_bucket(city, 64)", "hash_bucket(city, 128)"),), 1),
    "add_shard": ((
        ("      south:\n        partitions: [shenzhen, hong_kong]\n",
         "      south:\n        partitions: [shenzhen, hong_kong]\n      middle_east:\n        partitions: [riyadh]\n"),
    ), 1),
    "ramp_experiment": ((("          traffic: 30\n", "          traffic: 45\n"),), 1),
    "ramp_past_reserve": ((("          traffic: 40\n", "          traffic: 50\n"),), 3),
    "change_salt": ((("salt: eta_model_2024_07", "salt: eta_model_2024_08"),), 3),
    "delete_consumed_feature": ((("    rider_orders_30m: to_float(fillna(rider_load.assigned_30m, 0))\n", ""),), 2),
    "no_op_reformat": ((
        ("    windows: [1h, 1d, 7d]\n    features:\n      deliveries: count()\n      avg_delivery_minutes",
         "    windows:   # reformatted\n      - 7d\n      - 1h\n      - 1d\n    features:\n      deliveries: count()\n"
         "      avg_delivery_minutes"),
        ("    type: dnn\n    task: regression\n", "    task: regression   # same model\n    type: dnn\n"),
        ("partitions: [shanghai, hangzhou]", "partitions: [hangzhou, shanghai]"),
    ), 0),
    # issue 23: no phantom changes, the narrowest impact
    "reorder_source_columns": ((
        (COMMON, "      order_id: string\n      created_at: timestamp\n", "      created_at: timestamp\n      order_id: string\n"),
        (COMMON, "      delivered_at: timestamp\n      city: string\n", "      city: string\n      delivered_at: timestamp\n"),
    ), 0),
    "reorder_models": ((MOVE_WIDE_DEEP_FIRST,), 0),
    "change_descriptions_and_comments": ((
        ("description: Minutes from order to drop-off", "description: Minutes from order placement to drop-off"),
        ("    description: Production model.\n", "    description: Production model (daily warm start).\n"),
        ("    description: Kitchen backlog; a busy kitchen prepares slower.\n", "    description: Kitchen backlog.\n"),
        ("# Request-time inputs; offline", "# Request inputs; offline"),
        ("      description: Straight-line merchant-to-customer distance; roads add about 30 %.\n",
         "      description: Straight-line distance.   # roads add about 30 %\n"),
    ), 0),
    "change_experiment_description": ((
        ("          description: Does Wide&Deep reduce absolute ETA error and raise conversion?\n",
         "          description: Does Wide&Deep cut the ETA error?\n"),
        ("      description: Which ETA model a customer sees.\n", "      description: The ETA model a customer sees.\n"),
    ), 0),
    "add_unused_window": ((("    windows: [30m, 1h, 1d]\n", "    windows: [30m, 1h, 1d, 7d]\n"),), 1),
    "default_of_unused_output": ((("    ttl: 2d\n", "    ttl: 2d\n    defaults: {orders_1h: 1}\n"),), 1),
    "change_ttl": ((("    ttl: 2h\n", "    ttl: 3h\n"),), 1),
}


def copy_example(target: Path, edits=()) -> None:
    shutil.copytree(DELIVERY, target, ignore=shutil.ignore_patterns(".mlc", "__pycache__"))
    for edit in edits:
        file, old, new = edit if len(edit) == 3 else (SPEC, *edit)
        text = (target / file).read_text(encoding="utf-8")
        assert text.count(old) == 1, f"edit does not apply once: {old!r}"
        (target / file).write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffs")
    copy_example(root / "base")
    for case, (edits, _) in CASES.items():
        copy_example(root / case, edits)
    return root


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_diff(workspace, case, fmt):
    result = run_mlc("diff", f"base/{SPEC}", f"{case}/{SPEC}", "--format", fmt, cwd=workspace)
    assert result.returncode == CASES[case][1], result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    compare_golden(GOLDEN / f"{case}.{FORMATS[fmt]}", result.stdout)
    if fmt == "json":
        doc = json.loads(result.stdout)
        assert doc["exit_code"] == result.returncode
    if fmt == "markdown":
        assert_well_formed_markdown(result.stdout)


NO_OP_CASES = sorted(case for case, (_, code) in CASES.items() if code == 0)


@pytest.mark.parametrize("case", NO_OP_CASES)
def test_no_op_edit_has_no_change(workspace, case):
    doc = json.loads(run_mlc("diff", f"base/{SPEC}", f"{case}/{SPEC}", "--format", "json", cwd=workspace).stdout)
    assert doc["changes"] == [] and doc["artifacts"] == [] and doc["impacts"] == [] and doc["summary"] == "No changes."


def _diff_json(workspace: Path, case: str) -> dict:
    return json.loads(run_mlc("diff", f"base/{SPEC}", f"{case}/{SPEC}", "--format", "json", cwd=workspace).stdout)


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_line_agrees_with_impacts(workspace, case):
    """Impacts come from definition changes: a case with impacts has semantic changes, and its
    plan counts at least one item (never `0 to add, 0 to change, 0 to destroy` next to work)."""
    doc = _diff_json(workspace, case)
    if doc["problems"]:
        return
    if doc["impacts"]:
        assert doc["changes"], case
        assert not doc["summary"].startswith("Plan: 0 to add, 0 to change, 0 to destroy"), doc["summary"]
    for impact in doc["impacts"]:
        assert f"{impact['kind']} (" in doc["summary"]


def test_narrowest_impacts(workspace):
    def kinds(case):
        return {(i["kind"], tuple(i["subjects"])) for i in _diff_json(workspace, case)["impacts"]}

    # new outputs nobody reads: backfill and re-materialise the group, retrain nothing
    assert kinds("add_unused_window") == {("backfill", ("merchant_load",)), ("re-materialise", ("merchant_load",))}
    assert kinds("default_of_unused_output") == {("backfill", ("merchant_load",)), ("re-materialise", ("merchant_load",))}
    assert kinds("change_ttl") == {("re-materialise", ("rider_load",))}


def test_expected_impacts(workspace):
    def impacts(case):
        result = run_mlc("diff", f"base/{SPEC}", f"{case}/{SPEC}", "--format", "json", cwd=workspace)
        return {(i["kind"], i["level"]): i for i in json.loads(result.stdout)["impacts"]}

    widened = impacts("widen_hash_bucket")
    assert set(widened) == {("retrain", "info")}
    window = impacts("change_window")
    assert {("backfill", "info"), ("re-materialise", "info"), ("retrain", "info")} <= set(window)
    assert "user_history" in window[("backfill", "info")]["subjects"]
    salt = impacts("change_salt")
    assert salt[("traffic", "dangerous")]["code"] == "W5104"
    ramp = impacts("ramp_past_reserve")
    assert ramp[("traffic", "dangerous")]["code"] == "W5105"
    assert set(impacts("ramp_experiment")) == {("traffic", "info")}
    deleted = impacts("delete_consumed_feature")
    assert deleted[("deletion", "error")]["subjects"]
    added = impacts("add_feature")
    assert ("serving contract", "info") in added and ("retrain", "info") in added


def test_build_folders_and_specs_compare_alike(workspace):
    """A compiled build folder as BASE gives the same review as its spec."""
    out = workspace / "base-build"
    compiled = run_mlc("compile", f"base/{SPEC}", "-o", str(out), cwd=workspace)
    assert compiled.returncode == 0, compiled.stderr
    from_build = json.loads(run_mlc("diff", "base-build", f"change_salt/{SPEC}", "--format", "json", cwd=workspace).stdout)
    from_spec = json.loads(run_mlc("diff", f"base/{SPEC}", f"change_salt/{SPEC}", "--format", "json", cwd=workspace).stdout)
    for key in ("changes", "impacts", "artifacts", "summary", "exit_code"):
        assert from_build[key] == from_spec[key], key


def test_usage_and_unreadable_sides_exit_2(workspace):
    result = run_mlc("diff", f"base/{SPEC}", cwd=workspace)
    assert result.returncode == 2 and "give BASE and HEAD" in result.stderr
    missing = run_mlc("diff", f"base/{SPEC}", "nope.mlc.yaml", cwd=workspace)
    assert missing.returncode == 2 and "nope.mlc.yaml" in missing.stdout and "Traceback" not in missing.stderr


def test_graph_command(workspace):
    mermaid = run_mlc("graph", f"base/{SPEC}", cwd=workspace)
    assert mermaid.returncode == 0 and mermaid.stdout.startswith("flowchart LR")
    dot = run_mlc("graph", f"base/{SPEC}", "--format", "dot", cwd=workspace)
    assert dot.returncode == 0 and dot.stdout.startswith("digraph") and dot.stdout.rstrip().endswith("}")
    for label in ("source: deliveries", "group: rider_load", "model: eta_dnn", "shard: north_west", "experiment: dnn_refresh",
                  "switchback: dispatch_eta"):
        assert label in mermaid.stdout and label in dot.stdout


ALLOWED_HTML = ("<details>", "</details>", "<summary>", "</summary>", "<sub>", "</sub>")


def assert_well_formed_markdown(text: str) -> None:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    depth = 0
    for token in tokens:
        depth += token.nesting
        assert depth >= 0
        if token.type == "fence":
            assert token.markup.startswith("```")
        if token.type in ("html_block", "html_inline"):
            for piece in token.content.replace(">", ">\n").split("\n"):
                piece = piece.strip()
                if piece.startswith("<"):
                    assert any(piece.startswith(tag.rstrip(">")) for tag in ALLOWED_HTML), piece
    assert depth == 0
    assert text.count("<details>") == text.count("</details>")
    assert len(text) <= 65_536
