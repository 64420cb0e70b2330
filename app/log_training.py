"""`mlc run SPEC --step training|all --from-log PATH`: training sets from the gateway's feature log
joined with labels that arrived later ("log and wait"; docs/training-from-logs.md), then, for
`--step all`, training on them (:func:`mlc.app.training.run_training`, only the (model, shard)
pairs the log has).

The fitted constants written next to the sets (``<output>/mldl.json``, what serving of the new
model runs) are those of the build that served the logged requests (``--build``; default as
`mlc consistency`: the local deployment's, else the run folder's), so the model is served with the
preprocessing that produced its training features.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from mlc.app.common import Progress, classified, quiet, require_spark, spark_session, spec_dir
from mlc.app.consistency import NoRecords, build_mldl, fitted_constants, input_overrides, logs, skipped_text
from mlc.core.errors import MlcError
from mlc.core.fingerprint import features_fingerprint
from mlc.core.names import duration_seconds
from mlc.core.suggest import did_you_mean
from mlc.backends.preprocess import render
from mlc.runtime.consistency.logged_training import REQUEST_ID, JoinRule, logged_training_sets
from mlc.runtime.consistency.rows import logged_rows
from mlc.runtime.features.fitting import with_fitted
from mlc.runtime.features.job import write_run_mldl
from mlc.runtime.features.sources import read_source
from mlc.runtime.features.training_set import write_training_sets
from mlc.runtime.preprocess import module_from_text

DEFAULT_LABEL_WITHIN = "7d"


def join_rule(ir: Any, fields: dict, join_on: list[str] | None, within: str | None) -> JoinRule:
    """The join of logged rows to labels (a ``JoinRule``); E7420 (no join columns), E7421 (a bad
    column), E7422 (a bad --label-within)."""
    text = within or DEFAULT_LABEL_WITHIN
    seconds = duration_seconds(text)
    if seconds is None:
        raise MlcError(f"--label-within `{text}` is not a duration", code="E7422",
                       hint="a positive number and a unit: 30m, 1h, 7d")
    columns = [c for item in join_on or [] for c in item.split(",") if c]
    for model in ir.models:
        source = next(s for s in ir.sources if s.name == model.training.source)
        names = [c.name for c in source.columns or ()]
        if not source.event_time:
            raise MlcError(f"training source `{source.name}` of model `{model.name}` has no event_time: a label "
                           "cannot be told to come after a request", code="E7425",
                           hint="declare the source's `event_time` (when the labelled event happened)")
        if not columns:
            if REQUEST_ID in names:
                continue
            raise MlcError(f"training source `{source.name}` of model `{model.name}` has no `{REQUEST_ID}` column "
                           "to join the logged requests to their labels", code="E7420",
                           hint="name the columns that identify a labelled event: --join-on order_id")
        for column in columns:
            if column not in fields:
                raise MlcError(f"--join-on `{column}` is not a request field: the log does not have it",
                               code="E7421", hint=did_you_mean(column, sorted(fields)) or
                               f"request fields: {', '.join(sorted(fields))}")
            if column not in names:
                raise MlcError(f"--join-on `{column}` is not a column of training source `{source.name}`",
                               code="E7421", hint=did_you_mean(column, names) or f"columns: {', '.join(names)}")
    return JoinRule(tuple(columns) or (REQUEST_ID,), seconds, by_request_id=not columns)


def logged_requests(path: str, app: str, spec_hash: str) -> Any:
    """The log's records of this spec version; E7400 (no log) and E7423 (no record) worded for
    `mlc run --from-log`."""
    try:
        return logs(path, app, spec_hash, False)
    except NoRecords as err:
        raise MlcError(f"the feature log {path} has no request served under this spec version: {err.message}",
                       code="E7423", hint="serve requests with the feature log on (deployment.feature_log."
                       "sample_rate); records of another spec version are never training data") from None
    except MlcError as err:
        if err.code != "E7400":
            raise
        raise MlcError(err.message, code="E7400", hint="pass --from-log PATH: a feature-log file or folder (the "
                       "local gateway writes .mlc/<name>/logs/features)") from None


def training_from_log(options: Any, result: Any, output: str, progress: Progress = quiet) -> list[tuple[str, str]]:
    """Write ``<output>/training/<model>/<shard>`` from the log and ``<output>/mldl.json``; the
    (model, shard) pairs written."""
    from mlc.runtime.serving.validation import request_fields

    ir = result.ir
    fields = request_fields(ir)
    rule = join_rule(ir, fields, options.join_on, options.label_within)
    overrides = input_overrides(ir, options.inputs)
    fitted = fitted_constants(ir, build_mldl(options.spec, options.build))
    read = logged_requests(options.from_log, ir.name, features_fingerprint(ir))
    rows = logged_rows(ir, read.records, fields, max_requests=len(read.records))
    skipped = skipped_text(read)
    progress(f"feature log: {read.summary.accepted} request(s) of {read.summary.lines} line(s)"
             + (f"; skipped: {skipped}" if skipped else ""))
    try:
        require_spark()
        spark = spark_session("mlc-run", ir, options.catalog_dir)
        sources = {s.name: s for s in ir.sources}
        labels = {m.training.source: read_source(spark, sources[m.training.source], spec_dir(options.spec),
                                                 overrides.get(m.training.source)) for m in ir.models}
        sets, counts = logged_training_sets(spark, ir, module_from_text(render(ir)), fields, rows.rows, labels, rule)
        for pair, info in sets.items():
            info.info["origin"] = {"kind": "feature_log", "log": options.from_log, "join_on": list(rule.columns),
                                   "label_within_seconds": rule.within_seconds, **counts[pair],
                                   "skipped_lines": read.summary.to_json()["skipped"]}
        training = os.path.join(output, "training")
        for model, shard in sets:
            shutil.rmtree(os.path.join(training, model, shard), ignore_errors=True)
        write_training_sets(sets, training)
        write_run_mldl(with_fitted(ir, fitted), output)
    except MlcError:
        raise
    except Exception as exc:
        raise classified(exc) from None
    for (model, shard), c in sorted(counts.items()):
        progress(f"{model}/{shard}: {c['rows_labelled']} of {c['rows_logged']} logged row(s) labelled "
                 f"({c['rows_unlabelled']} without a label within {options.label_within or DEFAULT_LABEL_WITHIN})")
    if not sets:
        raise MlcError("the feature log has no request of a model of this spec", code="E7423")
    return sorted(sets)
