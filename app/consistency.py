"""`mlc consistency SPEC`: online/offline skew from the gateway's feature log
(:mod:`mlc.runtime.consistency`, docs/consistency.md).

    report = consistency(ConsistencyOptions("s.mlc.yaml", log=".mlc/demo/logs/features"))
    report.ok, report.features, render(report, "markdown")

The spec is compiled (its hash selects the records: ``features_fingerprint``); the fitted
constants come from the served build (``--build DIR``: ``DIR/mldl.json``; default: the local
deploy's build, else the run folder's ``mldl.json``); the offline values are recomputed on Spark.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from mlc.app.common import Diagnostics, Progress, built, classified, default_run_dir, quiet, require_spark
from mlc.app.common import spark_session, spec_dir, unshown
from mlc.backends.preprocess import render
from mlc.core.errors import MlcError
from mlc.core.ir import load_ir
from mlc.core.fingerprint import features_fingerprint
from mlc.core.suggest import did_you_mean
from mlc.runtime.app_state import feature_log_dir
from mlc.runtime.consistency import compare, recompute
from mlc.runtime.consistency.report import Report
from mlc.runtime.consistency.rows import logged_rows
from mlc.runtime.deploy.state import load_state
from mlc.runtime.feature_log.reader import LogPathError, LogRead, read_logs
from mlc.runtime.features.fitting import fitted_from_ir
from mlc.runtime.preprocess import module_from_text

DEFAULT_MAX_REQUESTS = 100_000


@dataclass
class ConsistencyOptions:
    spec: str
    log: str | None = None                  # default: .mlc/<name>/logs/features
    build: str | None = None                # the served build (DIR/mldl.json); default: see the module docstring
    inputs: list[str] = field(default_factory=list)      # SOURCE=PATH
    env: str | None = None
    threshold: float = 0.0                  # the highest mismatch rate a feature may have
    any_spec_version: bool = False
    max_requests: int = DEFAULT_MAX_REQUESTS
    catalog_dir: str | None = None


class NoRecords(MlcError):
    """Nothing to compare: every line of the log was skipped (``read.summary`` says why)."""

    def __init__(self, message: str, read: LogRead, spec_hash: str, app: str):
        super().__init__(message, code="E7401",
                         hint="serve requests with the feature log on (deployment.feature_log.sample_rate), "
                              "or pass --any-spec-version to compare records of other spec versions")
        self.read, self.spec_hash, self.app = read, spec_hash, app

    def report(self) -> Report:
        """The summary alone (why every line was skipped)."""
        return Report(self.app, self.spec_hash, self.read.summary.to_json(), {}, 0, 0, 0.0)


def consistency(options: ConsistencyOptions, progress: Progress = quiet, diagnostics: Diagnostics = unshown) -> Report:
    """The report of the logged requests against the offline recomputation (``report.ok``: every
    feature's mismatch rate at most ``options.threshold``)."""
    result = built(options.spec, options.env, diagnostics)
    ir = result.ir
    spec_hash = features_fingerprint(ir)
    overrides = input_overrides(ir, options.inputs)
    fitted = fitted_constants(ir, build_mldl(options.spec, options.build))
    log_path = options.log or feature_log_dir(options.spec, ir.name)
    read = logs(log_path, ir.name, spec_hash, options.any_spec_version)
    progress(f"feature log: {read.summary.accepted} of {read.summary.lines} line(s) accepted")
    try:
        require_spark()
        return compared(options, ir, spec_hash, fitted, overrides, read, progress)
    except MlcError:
        raise
    except Exception as exc:
        raise classified(exc) from None


def compared(options: ConsistencyOptions, ir: Any, spec_hash: str, fitted: Any, overrides: dict[str, str],
             read: LogRead, progress: Progress) -> Report:
    from mlc.runtime.serving.validation import request_fields

    module = module_from_text(render(ir))
    fields = request_fields(ir)
    rows = logged_rows(ir, read.records, fields, options.max_requests)
    report = Report(ir.name, spec_hash, read.summary.to_json(), rows.served_under, rows.requests, len(rows.rows),
                    options.threshold, options.any_spec_version, rows.capped, options.max_requests, rows.unknown_model)
    if not rows.rows:
        report.notes.append("no request of a model of this spec to compare")
        return report
    if rows.capped:
        progress(f"capped at --max-requests {options.max_requests}: {rows.capped} request(s) not compared")
    spark = spark_session("mlc-consistency", ir, options.catalog_dir)
    events = recompute.Events(spark, ir, spec_dir(options.spec), overrides)
    progress(f"recomputing {len(rows.rows)} row(s) of {rows.requests} request(s) on Spark")
    offline = recompute.recompute(spark, ir, module, fitted, rows.rows, fields, events)
    features = compare.features_of(ir, module, rows.rows)
    candidates = compare.stale_candidates(features, rows.rows, offline)
    stale = recompute.recompute_stale(spark, ir, candidates, fields, events) if candidates else {}
    report.features = compare.compare(features, rows.rows, offline, stale)
    return report


# ------------------------------------------------------------------------------ inputs


def logs(path: str, app: str, spec_hash: str, any_spec_version: bool) -> LogRead:
    """The log's records of ``app``; E7400 without a log file, NoRecords (E7401) without a record."""
    try:
        read = read_logs(path, app=app, spec_hash=spec_hash, any_spec_version=any_spec_version)
    except LogPathError as err:
        raise MlcError(str(err), code="E7400",
                       hint="pass --log PATH (a feature-log file or folder); the local gateway writes "
                            "`.mlc/<name>/logs/features` when deployment.feature_log.sample_rate > 0") from None
    except OSError as err:
        raise MlcError(f"cannot read the feature log {path}: {err.strerror or err}", code="E7400") from None
    if read.summary.accepted == 0:
        if read.summary.lines == 0:
            raise NoRecords(f"the feature log {path} is empty: no record to compare", read, spec_hash, app)
        raise NoRecords(f"no record of the feature log {path} can be compared: all {read.summary.lines} line(s) "
                        f"skipped ({skipped_text(read)})", read, spec_hash, app)
    return read


def skipped_text(read: LogRead) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in read.summary.to_json()["skipped"].items())


def input_overrides(ir: Any, items: list[str]) -> dict[str, str]:
    """``--input SOURCE=PATH`` as ``mlc run --input`` reads them (paths made absolute); E7404."""
    names = sorted(s.name for s in ir.sources)
    out = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise MlcError(f"--input expects SOURCE=PATH, got `{item}`", code="E7404",
                           hint=f"sources: {', '.join(names)}")
        if name not in names:
            raise MlcError(f"--input: unknown source `{name}`", code="E7404",
                           hint=did_you_mean(name, names) or f"sources: {', '.join(names)}")
        out[name] = path if "://" in path else os.path.abspath(path)
    return out


def build_mldl(spec: str, build: str | None) -> str:
    """The fitted ``mldl.json`` the gateway served: ``--build`` (a folder, or the file itself),
    else the local deploy's build (``state.json``), else the run folder's; E7402 when none."""
    hint = ("pass --build DIR (the build the gateway serves: DIR/mldl.json), or train first: "
            "mlc run SPEC --step all")
    if build:
        path = os.path.join(build, "mldl.json") if os.path.isdir(build) else build
        if not os.path.isfile(path):
            raise MlcError(f"no fitted mldl.json at {path}", code="E7402", hint=hint)
        return path
    for candidate in (deployed_build(spec), default_run_dir(spec)):
        if candidate and os.path.isfile(os.path.join(candidate, "mldl.json")):
            return os.path.join(candidate, "mldl.json")
    raise MlcError("no fitted build of this spec: no local deployment and no mldl.json in the run folder",
                   code="E7402", hint=hint)


def deployed_build(spec: str) -> str | None:
    try:
        state = load_state(spec)
    except ValueError:
        return None
    build = (state or {}).get("build")
    return build if isinstance(build, str) else None


def fitted_constants(ir: Any, mldl: str) -> dict[str, Any]:
    """The build's fitted analyzer constants; E7403 when unreadable or an analyzer is not fitted."""
    try:
        fitted = fitted_from_ir(load_ir(mldl))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise MlcError(f"cannot read the build {mldl}: {err}", code="E7403") from None
    unfitted = sorted(a.id for a in ir.analyzers if a.id not in fitted)
    if unfitted:
        raise MlcError(f"the build {mldl} has no fitted constants for {', '.join(unfitted)}", code="E7403",
                       hint="pass the build the gateway serves (--build), fitted by `mlc run SPEC --step all`")
    return fitted
