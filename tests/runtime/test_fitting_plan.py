"""Analyzers fitted on the rows of the models that read them (runtime/fitting.fitting_plan,
fit_by_plan), by the feature job, `mlc fit` and `mlc check-parity`, with several training sources.

The spec (tests/specs.py, TWO_SOURCE_SPEC): `click_lr` (first) and `dwell_dnn` trained on
`clicks`, `purchase_lr` on `orders`; only `dwell_dnn` reads the feature group `user_clicks`. Expected
constants are computed here in Python from the generated data. Commands run in this process, on
the test session's Spark.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from specs import write_two_source_project

pytest.importorskip("pyspark")

ROOT = Path(__file__).resolve().parents[2]
DELIVERY = ROOT / "examples" / "delivery_eta" / "delivery.mlc.yaml"
CTR_PUBLIC = ROOT / "examples" / "ctr_public" / "ctr_public.mlc.yaml"


def mean_std(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))   # population


# what the data of write_two_source_project holds (row i)
CLICKS = range(60)
X = {i: (i * 7) % 11 + 0.5 for i in CLICKS}
CLICKED = {i for i in CLICKS if i % 5}            # rows with a `clicked` label
DWELL = {i for i in CLICKS if i % 4}              # rows with a `dwell` label
# clicks of the same user (i % 3) strictly before row i, all within the 1d window (20 hours)
EARLIER_CLICKS = {i: i // 3 for i in CLICKS}
AMOUNT = {i: 100.0 + (i * 37) % 23 for i in range(40) if i % 3}   # orders with a `bought` label


def constants(mldl_path) -> dict[str, dict]:
    doc = json.loads(Path(mldl_path).read_text())
    return {a["id"]: a["fitted"] for a in doc["analyzers"]}


def assert_standardized(fitted: dict, values: list[float]) -> None:
    mean, std = mean_std(values)
    assert fitted["count"] == len(values)
    assert fitted["mean"] == pytest.approx(mean, rel=1e-12)
    assert fitted["std"] == pytest.approx(std, rel=1e-12) and std > 0


@pytest.fixture(scope="module")
def feature_job_fitted(spark, tmp_path_factory):
    """The feature job (`mlc run --step training`'s `feature_job.main`) on the spec: its mldl.json."""
    import os

    from mlc.compiler.pipeline import build
    from mlc.runtime.features.job import main

    root = tmp_path_factory.mktemp("two_sources")
    spec = write_two_source_project(root)
    out = root / "out"
    result = build(spec)
    assert result.ok, result.diagnostics
    assert main(["--step", "training", "--output", str(out)], spec_dir=os.path.dirname(os.path.abspath(spec)),
                spark=spark, ir=result.ir) == 0
    return constants(out / "mldl.json")


def test_an_analyzer_of_the_second_source_is_fitted_on_its_rows(feature_job_fitted):
    """`amount_z` is read by `purchase_lr` only, trained on `orders`: fitted on the orders with a label,
    not on the first model's `clicks` (which have no `amount`: mean 0, std 0 before)."""
    assert_standardized(feature_job_fitted["amount_z:standardize:0"], list(AMOUNT.values()))
    # read by no model: on the first training source with its input (`amount`: orders)
    assert_standardized(feature_job_fitted["spare_z:standardize:0"], [2 * v for v in AMOUNT.values()])


def test_a_group_output_read_by_the_second_model_only_is_joined(feature_job_fitted):
    """`clicks_z` standardizes a `user_clicks` output that only `dwell_dnn` reads: the group is joined
    point in time on dwell_dnn's label rows (std 0 before: the first model joins no group)."""
    assert_standardized(feature_job_fitted["clicks_z:standardize:0"], [float(EARLIER_CLICKS[i]) for i in sorted(DWELL)])


def test_an_analyzer_of_two_models_uses_the_rows_of_either_label(feature_job_fitted):
    assert_standardized(feature_job_fitted["x_z:standardize:0"], [X[i] for i in sorted(CLICKED | DWELL)])
    # read by no model: on the rows of every model of `clicks` (either label), the group joined;
    # each earlier-clicks value v comes from rows 3v..3v+2, of which 0, 20 and 40 have no label
    vocabulary = feature_job_fitted["spare_clicks:vocabulary:0"]
    assert vocabulary == {"vocabulary": [1, 2, 3, 4, 5, 7, 8, 9, 10, 11], "counts": [3] * 10}


def test_mlc_fit_uses_the_plan_and_data_replaces_the_first_source(spark, tmp_path, capsys):
    """`mlc fit --data FILE`: FILE is the data of the first model's training source (`clicks`); the
    other sources are read from the spec."""
    from mlc.cli.main import main

    spec = write_two_source_project(tmp_path)
    other = tmp_path / "clicks_other.csv"
    rows = ["ts,user_id,x,clicked,dwell"] + [f"2024-06-01T0{i}:00:00Z,u{i % 2},{i * 2.0},1,1.0" for i in range(6)]
    other.write_text("\n".join(rows) + "\n")
    assert main(["fit", spec, "--data", str(other), "-o", str(tmp_path / "build")]) == 0, capsys.readouterr().err
    fitted = constants(tmp_path / "build" / "mldl.json")
    assert_standardized(fitted["x_z:standardize:0"], [i * 2.0 for i in range(6)])
    assert_standardized(fitted["amount_z:standardize:0"], list(AMOUNT.values()))
    err = capsys.readouterr().err
    assert "note: analyzer `spare_z:standardize:0` is read by no model: fitted on the labelled rows of training " \
           "source `orders`" in err


def test_mlc_fit_on_the_delivery_example_joins_the_feature_groups(spark, tmp_path, capsys):
    """`merchant_backlog_z` standardizes a feature-group output: `mlc fit` fits it on the label rows
    with the groups joined point in time, as the feature job does (mean 0, std 0 before)."""
    from mlc.cli.main import main

    assert main(["fit", str(DELIVERY), "--env", "dev", "-o", str(tmp_path / "build")]) == 0, capsys.readouterr().err
    fitted = constants(tmp_path / "build" / "mldl.json")
    backlog = fitted["merchant_backlog_z:standardize:0"]
    assert backlog["count"] > 0 and backlog["std"] > 0 and backlog["mean"] > 0
    for analyzer, value in fitted.items():
        if analyzer.endswith(":standardize:0"):
            assert value["std"] > 0, analyzer


def check_parity(capsys, *args: str) -> tuple[int, str, str]:
    from mlc.cli.main import main

    code = main(["check-parity", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_parity_compares_each_training_source(spark, capsys):
    """ctr_public: Criteo and Avazu models on two sources (neither has the other's columns): one
    section per source with the features of its models, one overall verdict."""
    code, out, err = check_parity(capsys, str(CTR_PUBLIC), "--rows", "200")
    assert code == 0, out + err
    assert "error" not in err
    headers = re.findall(r"^== training source `(\w+)` \(models: ([\w, ]+)\): (\d+) feature\(s\) ==$", out, re.M)
    # sections in model order (models by name): avazu_lr's source first
    assert headers == [("avazu", "avazu_lr", "11"), ("criteo", "criteo_deepfm", "39")]
    avazu, criteo = out.split("== training source `criteo`")
    assert "i1_log " in criteo and "site_x_hour" not in criteo
    assert "site_x_hour " in avazu and "i1_log" not in avazu
    assert "on 200 rows" in criteo and "on 100 rows" in avazu
    assert criteo.count("OK: every feature identical\n") == 1 and avazu.count("OK: every feature identical\n") == 1
    assert out.rstrip().endswith("overall: OK on 2 training sources (`avazu`, `criteo`)")


def test_check_parity_places_features_of_no_model_and_fails_on_any_source(spark, capsys, tmp_path):
    spec = write_two_source_project(tmp_path)
    code, out, err = check_parity(capsys, spec, "--rows", "50")
    assert code == 0, out + err
    sections = re.findall(r"^== training source `(\w+)`.*\n(   also compared here, read by no model: .*)?", out, re.M)
    assert sections == [("clicks", "   also compared here, read by no model: spare_clicks"),
                        ("orders", "   also compared here, read by no model: spare_z")]
    # a source without rows: E7251 there, the other still compared, the verdict fails
    (tmp_path / "orders.csv").write_text("ts,user_id,amount,bought\n")
    code, out, err = check_parity(capsys, spec, "--rows", "50")
    assert code == 1
    assert "error[E7251]: the data of `orders` has no rows: nothing compared" in err
    assert "== training source `clicks`" in out and "== training source `orders`" not in out
    assert out.rstrip().endswith("overall: FAILED on 1 of 2 training sources: `orders`: not compared, no rows (E7251)")


def test_the_overall_verdict_names_each_failing_source_in_model_order():
    from mlc.cli.offline import render_sections
    from mlc.core.ir import SourceIR
    from mlc.runtime.features.parity_check import FeatureParity, ParityReport, Section

    def section(name: str) -> Section:
        return Section(SourceIR(name, "csv", f"{name}.csv", None, None, ()), (f"m_{name}",), ("f",))

    a, b, c = section("a"), section("b"), section("c")
    bad = ParityReport(5, [FeatureParity("f", "float64", 5, mismatches=2, examples=[(0, 1.0, 2.0)])], section=b)
    good = ParityReport(5, [FeatureParity("f", "float64", 5)], section=c)
    text = render_sections([bad, good], [(a, "inputs missing from the data (E7250)")], [a, b, c])
    assert "== training source `b` (models: m_b): 1 feature(s) ==\nparity:" in text
    assert "MISMATCH in 1 feature(s)\n\n== training source `c`" in text
    assert text.endswith("overall: FAILED on 2 of 3 training sources: `a`: not compared, inputs missing from the "
                         "data (E7250); `b`: MISMATCH in 1 feature(s)\n")
    assert render_sections([good], [], [c]).rstrip().endswith("OK: every feature identical")
