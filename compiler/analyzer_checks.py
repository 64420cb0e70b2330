"""Checks of where analyzers are fitted (E5045).

An analyzer (`standardize`, `min_max_scale`, `vocabulary`, `quantile_bucketize`) is fitted on the
training rows of the models that read it (`mlc.runtime.features.fitting.fitting_plan`): the label rows of
their training source. A model reads the derived features in the closure of its dense and sparse
inputs; it reads an analyzer when the analyzer is called by one of those features. When the
models reading one analyzer are trained on different sources there is no one set of training rows
to fit it on: E5045, at the analyzer call in the derived feature that makes it.
"""

from __future__ import annotations

from typing import Any, Iterable

from mlc.compiler.reporter import Reporter
from mlc.schemas import spec as S
from mlc.core.ir import ANALYZERS
from mlc.compiler.source_checks import closure, feature_refs


def check_analyzer_sources(spec: S.Spec, typed: Any, report: Reporter) -> None:
    resolution = getattr(typed, "derived", None)
    if resolution is None:
        return
    refs = feature_refs(typed)
    calls = {name: list(_analyzer_calls(tree, ANALYZERS)) for name, tree in resolution.typed.items()}
    readers: dict[str, list[str]] = {}        # derived feature calling analyzers -> models reading it
    for model_name, model in sorted(spec.models.items()):      # models by name, as the fitting plan
        for name in closure(list(model.inputs.dense) + list(model.inputs.sparse), refs):
            if calls.get(name):
                readers.setdefault(name, []).append(model_name)
    for feature, models in readers.items():
        sources = list(dict.fromkeys(spec.models[m].training.source for m in models))
        if len(sources) < 2 or feature not in spec.preprocess.features:
            continue
        entry = spec.preprocess.features[feature]
        path = ("preprocess", "features", feature) + (() if isinstance(entry, str) else ("expr",))
        shown = ", ".join(f"`{m}` (`{spec.models[m].training.source}`)" for m in models)
        for function, start, end in calls[feature]:
            report.expression_issue(
                path, "E5045",
                f"`{function}` in derived feature `{feature}` is read by models trained on different sources: "
                f"{shown}; its constants are fitted on the training rows of one source",
                start, end,
                hint=f"one analyzer per training source: declare one derived feature per source (e.g. "
                     f"`{feature}_{sources[0]}` and `{feature}_{sources[1]}`, each with its own `{function}(...)`) "
                     "and give each model the one of its source")


def _analyzer_calls(tree: Any, analyzers: Iterable[str]) -> Iterable[tuple[str, int, int]]:
    """(function, start, end) of every analyzer call in a typed expression tree, source order."""
    if getattr(tree, "function", None) in analyzers:
        yield tree.function, tree.start, tree.end
    for child in getattr(tree, "args", ()) or ():
        yield from _analyzer_calls(child, analyzers)
