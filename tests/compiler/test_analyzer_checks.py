"""Where analyzers are fitted: E5045 (compiler/analyzer_checks.py) and the fitting plan
(runtime/fitting.fitting_plan, pure: no Spark)."""

from __future__ import annotations

import pytest

from lint_cases import edit, one, run  # noqa: F401  (run is a fixture)
from specs import TWO_SOURCE_SPEC as PLAN_SPEC

TWO_SOURCES = """\
version: 1
name: two
sources:
  a:
    kind: csv
    path: a.csv
    columns: {x: float64, y: int64}
  b:
    kind: csv
    path: b.csv
    columns: {x: float64, z: int64}
preprocess:
  inputs:
    x: {dtype: float64}
  features:
    x_log: log1p(x)
    x_z: standardize(x_log)
    x_a: standardize(x_log)
models:
  ma:
    type: lr
    task: classification
    label: y
    inputs: {dense: [x_a]}
    training: {source: a}
  mb:
    type: lr
    task: classification
    label: z
    inputs: {dense: [x_z]}
    training: {source: b}
"""

HINT = ("one analyzer per training source: declare one derived feature per source (e.g. `x_z_a` and `x_z_b`, "
        "each with its own `standardize(...)`) and give each model the one of its source")


def test_one_analyzer_per_training_source_is_valid(run):
    result = run(TWO_SOURCES)
    assert result.ok and not result.diagnostics, result.diagnostics


def test_e5045_an_analyzer_read_by_models_of_two_sources(run):
    text = edit(("inputs: {dense: [x_a]}", "inputs: {dense: [x_a, x_z]}"), text=TWO_SOURCES)
    one(run, text, "E5045", "standardize(x_log)\n    x_a", "`standardize` in derived feature `x_z` is read by "
        "models trained on different sources: `ma` (`a`), `mb` (`b`); its constants are fitted on the training "
        "rows of one source", HINT, width=len("standardize(x_log)"))


def test_e5045_through_a_feature_that_reads_the_analyzed_one(run):
    """`x_z2` reads `x_z`: a model reading `x_z2` reads x_z's analyzer too."""
    text = edit(("    x_a: standardize(x_log)\n", "    x_a: standardize(x_log)\n    x_z2: x_z * 2.0\n"),
                ("inputs: {dense: [x_a]}", "inputs: {dense: [x_a, x_z2]}"), text=TWO_SOURCES)
    one(run, text, "E5045", "standardize(x_log)\n    x_a", "`standardize` in derived feature `x_z` is read by "
        "models trained on different sources: `ma` (`a`), `mb` (`b`); its constants are fitted on the training "
        "rows of one source", HINT)


def test_analyzer_free_features_may_be_shared(run):
    text = edit(("    x_a: standardize(x_log)\n", "    x_a: standardize(x_log)\n    x_half: x_log / 2.0\n"),
                ("inputs: {dense: [x_a]}", "inputs: {dense: [x_a, x_half]}"),
                ("inputs: {dense: [x_z]}", "inputs: {dense: [x_z, x_half]}"), text=TWO_SOURCES)
    assert run(text).ok


# --------------------------------------------------------------------- the fitting plan



def test_fitting_plan_places_each_analyzer_on_its_models_rows(run):
    from mlc.runtime.features.fitting import FitFrame, analyzer_models, fitting_plan

    ir = run(PLAN_SPEC).ir
    assert analyzer_models(ir) == {
        "x_z:standardize:0": ("click_lr", "dwell_dnn"), "clicks_z:standardize:0": ("dwell_dnn",),
        "amount_z:standardize:0": ("purchase_lr",), "spare_z:standardize:0": (), "spare_clicks:vocabulary:0": ()}
    plan = fitting_plan(ir)
    clicks_both = FitFrame("clicks", ("click_lr", "dwell_dnn"), ("user_clicks",))
    orders = FitFrame("orders", ("purchase_lr",), ())
    assert dict(plan.homes) == {
        "x_z:standardize:0": clicks_both,
        "clicks_z:standardize:0": FitFrame("clicks", ("dwell_dnn",), ("user_clicks",)),
        "amount_z:standardize:0": orders,
        # read by no model: the first training source with its inputs (`amount`: orders); the
        # group it reads is joined on the rows of every model of that source (clicks: both)
        "spare_z:standardize:0": orders,
        "spare_clicks:vocabulary:0": clicks_both,
    }
    # frames in model order (models by name: source of the first model, then first model); ids in IR order
    assert [(step.frame, step.analyzers) for step in plan.steps] == [
        (clicks_both, ("spare_clicks:vocabulary:0", "x_z:standardize:0")),
        (FitFrame("clicks", ("dwell_dnn",), ("user_clicks",)), ("clicks_z:standardize:0",)),
        (orders, ("amount_z:standardize:0", "spare_z:standardize:0"))]
    assert plan.unplaced == ()
    assert plan.notes == (
        "analyzer `spare_clicks:vocabulary:0` is read by no model: fitted on the labelled rows of training source "
        "`clicks`",
        "analyzer `spare_z:standardize:0` is read by no model: fitted on the labelled rows of training source "
        "`orders`")


def test_fitting_plan_levels_run_across_frames(run):
    """A level-2 analyzer fitted on one frame after the level-1 analyzer it reads, fitted on
    another: every frame's level 1 comes before any level 2."""
    from mlc.runtime.features.fitting import fitting_plan

    text = edit(("    spare_clicks:", "    x_zz: standardize(x_z * 3.0)\n    spare_clicks:"),
                ("inputs: {dense: [clicks_z, x_z]}", "inputs: {dense: [clicks_z, x_zz]}"), text=PLAN_SPEC)
    plan = fitting_plan(run(text).ir)
    order = [a for step in plan.steps for a in step.analyzers]
    assert order.index("x_z:standardize:0") < order.index("x_zz:standardize:0")
    assert plan.frame_of("x_zz:standardize:0").models == ("dwell_dnn",)
    assert plan.frame_of("x_z:standardize:0").models == ("click_lr", "dwell_dnn")


def test_fitting_plan_refuses_an_analyzer_of_two_sources(run):
    import dataclasses

    from mlc.runtime.features.fitting import FittingConflict, fitting_plan

    ir = run(PLAN_SPEC).ir
    buy = ir.model("purchase_lr")
    # an IR the compiler refuses (E5045), e.g. an mldl.json edited by hand
    bad = dataclasses.replace(ir, models=tuple(dataclasses.replace(m, dense=m.dense + ir.model("click_lr").dense)
                                                if m is buy else m for m in ir.models))
    with pytest.raises(FittingConflict, match="`x_z:standardize:0` is read by models trained on different sources"):
        fitting_plan(bad)


def test_without_models_every_analyzer_is_left_to_the_caller(run):
    import dataclasses

    from mlc.runtime.features.fitting import fitting_plan

    ir = dataclasses.replace(run(PLAN_SPEC).ir, models=())
    plan = fitting_plan(ir)
    assert plan.steps == () and plan.unplaced == tuple(a.id for a in ir.analyzers)
