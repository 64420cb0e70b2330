"""The compiler's front half: file -> located tree -> Spec -> checked, typed -> IR.

Each stage collects diagnostics; the run stops at the end of the first stage with errors.
Nothing here touches the disk except reading the spec files.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

from mlc.core.diagnostics import Diagnostic, DiagnosticBag, SourceMap
from mlc.core.ir import IR
from mlc.compiler.reporter import Reporter
from mlc.schemas.spec import Spec
from mlc.schemas.yamlpos import find
from mlc.schemas.compose import compose
from mlc.schemas.validate import validate_spec
from mlc.compiler.lower import lower, sparse_buckets
from mlc.compiler.checks import check_spec
from mlc.compiler.expressions import typecheck_spec
from mlc.compiler.source_checks import check_source_data
from mlc.compiler.analyzer_checks import check_analyzer_sources
from mlc.compiler.experiment_baseline import compare

STAGES = ("load", "validate", "check", "lower")


@dataclass
class Build:
    spec_path: str
    environment: str | None
    sources: SourceMap = field(default_factory=SourceMap)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)
    spec: Spec | None = None
    ir: IR | None = None
    failed_stage: str | None = None

    @property
    def ok(self) -> bool:
        return self.ir is not None

    def spec_sha256(self) -> str:
        """Hash of the normalised spec (after includes and overlay): formatting, comments, key
        order and the order of set-like lists (docs/spec.md "Order") do not change it, meaning
        (and descriptions) do."""
        assert self.spec is not None
        canonical = json.dumps(_sets_sorted(self.spec.model_dump(mode="json")), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _sets_sorted(dump: dict) -> dict:
    """The spec's lists whose order means nothing, sorted: a source's ``null_values``, a group's
    ``windows``, a shard's ``partitions``, the preferred batch sizes."""
    def sort(holder: dict, key: str) -> None:
        if isinstance(holder.get(key), list):
            holder[key] = sorted(holder[key], key=lambda v: json.dumps(v, sort_keys=True))

    for source in (dump.get("sources") or {}).values():
        sort(source, "null_values")
    for group in (dump.get("feature_groups") or {}).values():
        sort(group, "windows")
    deployment = dump.get("deployment") or {}
    for shard in ((deployment.get("sharding") or {}).get("shards") or {}).values():
        sort(shard, "partitions")
    sort((deployment.get("serving") or {}).get("dynamic_batching") or {}, "preferred_batch_sizes")
    return dump


def build(spec_path: str, environment: str | None = None, baseline: dict | None = None) -> Build:
    """``baseline``: a previous `experiments/config.json` document; changes that move units of
    its running experiments become warnings (``mlc.compiler.experiment_baseline``)."""
    result = Build(spec_path, environment)
    composed = compose(spec_path, result.sources, environment)
    result.files = composed.files
    result.environments = sorted(composed.environments)
    if _stop(result, composed.diagnostics, "load") or composed.root is None:
        result.failed_stage = result.failed_stage or "load"
        return result
    spec, diagnostics = validate_spec(composed.root)
    if _stop(result, diagnostics, "validate"):
        return result
    result.spec = spec
    bag = DiagnosticBag()
    report = Reporter(composed.root, bag)
    typed = _check(spec, report)
    if _stop(result, bag.items, "check"):
        return result

    declared_in = {name: _declaring_file(composed.root, name, spec_path) for name in spec.sources}
    result.ir = lower(spec, typed, declared_in, spec_path)
    if baseline is not None:
        compare(baseline, result.ir, report)
        _stop(result, bag.items, "lower")
    return result


def _check(spec: Spec, report: Reporter):
    typed = typecheck_spec(spec, report)
    check_spec(spec, report, typed.feature_dtypes(), lambda name: sparse_buckets(typed, name))
    check_source_data(spec, typed, report)

    check_analyzer_sources(spec, typed, report)
    return typed


def _declaring_file(root, source: str, spec_path: str) -> str:
    key, _ = find(root, ("sources", source))
    return key.file if key is not None else spec_path


def _stop(result: Build, diagnostics: list[Diagnostic], stage: str) -> bool:
    bag = DiagnosticBag(list(result.diagnostics))
    bag.extend(diagnostics)
    result.diagnostics = bag.sorted()
    if bag.has_errors:
        result.failed_stage = stage
        return True
    return False


def relative_to_spec(path: str, spec_path: str) -> str:
    return os.path.relpath(os.path.abspath(path), os.path.dirname(os.path.abspath(spec_path))).replace(os.sep, "/")
