"""The offline feature job: feature-group snapshots and training sets, on Spark.

The generated ``spark/<name>_features.py`` is a thin wrapper that calls
``main(sys.argv[1:], spec_dir=..., mldl_path=...)``::

    python spark/delivery_eta_features.py --output out/ --as-of 2024-06-08T00:00:00Z \\
        --input orders=/data/orders.parquet --step all

Outputs under ``--output``:

* ``features/<group>/`` -- parquet, one row per entity key: ``snapshot(events, group, as_of)``.
* ``training/<model>/<shard>/{train,validation}/`` -- parquet, plus ``schema.json``
  (see ``mlc.runtime.features.training_set``).
* ``mldl.json`` (with training sets) -- the IR they were built with, analyzers fitted.

Decisions:

* The IR comes from ``mldl.json`` (``mldl_path``), read by ``mlc.core.ir.load_ir`` (the
  reader next to the writer, ``to_jsonable``), or is passed in memory (``ir=``) by a caller
  that compiled the spec itself (``mlc run``). The job never compiles a spec: the runtime reads
  builds and does not import the compiler (issue 16; README.md).
* Relative source paths resolve against ``spec_dir`` (the generated job passes the directory it
  is started from; ``--data-root DIR`` overrides it); ``--input SOURCE=PATH`` overrides a
  source's location (the file kind is taken from the suffix, as ``mlc fit --data`` does).
  ``table`` sources are read from the Spark catalog (``mlc.runtime.features.session``).
* ``--as-of`` (ISO-8601, naive = UTC) is the snapshot time. It never defaults to the wall clock
  (runs must be reproducible): without it, ``as_of`` is the latest event time over the feature
  groups' sources plus one microsecond, so the latest event is inside the snapshot (windows are
  ``as_of - w <= t < as_of``). ``--as-of`` does not affect training sets, which are point in time
  per label row.
* Fitted analyzer constants come from the IR (written by ``mlc fit``). If any analyzer is not
  fitted there, all are fitted by the fitting plan (``fitting.fit_by_plan``, as ``mlc fit``
  does): each on the label rows of the models that read it, on their training source, with
  those models' point-in-time feature-group values (``training_set.labelled_features``), so
  analyzers over group outputs see real values, before the training sets are built; a note goes
  to stderr.
* The Spark session is the active one when there is one (so tests and ``spark-submit`` reuse
  theirs), else ``mlc.runtime.features.session.local_session``.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Sequence

from mlc.core.ir import IR, load_ir
from mlc.runtime.features.feature_groups import event_micros, snapshot
from mlc.runtime.features.sources import read_source
from mlc.backends.mldl import render
from mlc.backends.preprocess import render as render_preprocess
from mlc.runtime.features.session import catalog_dir, local_session, uses_catalog
from mlc.runtime.features.fitting import fit_by_plan, fitted_from_ir, with_fitted
from mlc.runtime.preprocess import module_from_text
from mlc.runtime.features.training_set import parse_time, training_sets, write_training_sets


# ------------------------------------------------------------------------------------ features

def compute_snapshots(spark: Any, ir: IR, spec_dir: str, as_of: Any,
                      inputs: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``{group: snapshot DataFrame}`` for every feature group, as of ``as_of`` (UTC datetime or
    int unix seconds). Each source is read once."""
    by_name = {s.name: s for s in ir.sources}
    frames: dict[str, Any] = {}
    out = {}
    for group in ir.feature_groups:
        source = by_name[group.source]
        if source.name not in frames:
            frames[source.name] = read_source(spark, source, spec_dir, (inputs or {}).get(source.name))
        out[group.name] = snapshot(frames[source.name], group, source.event_time, as_of)
    return out


def default_as_of(spark: Any, ir: IR, spec_dir: str, inputs: Mapping[str, str] | None = None) -> datetime | None:
    """The latest event time over the feature groups' sources, plus one microsecond."""
    from pyspark.sql import functions as F

    by_name = {s.name: s for s in ir.sources}
    latest = None
    for name in sorted({g.source for g in ir.feature_groups}):
        source = by_name[name]
        df = read_source(spark, source, spec_dir, (inputs or {}).get(name))
        value = df.select(F.max(event_micros(df, source.event_time))).collect()[0][0]
        if value is not None and (latest is None or value > latest):
            latest = value
    if latest is None:
        return None
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=latest + 1)


def write_run_mldl(ir: IR, out_dir: str) -> str:
    """``<out_dir>/mldl.json``: the IR the training sets were built with, analyzers fitted --
    what training exports next to the model and serving runs, so all three use the same
    constants."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "mldl.json")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(render(ir))
    return path


def write_snapshots(snapshots: Mapping[str, Any], out_dir: str) -> None:
    for name in sorted(snapshots):
        snapshots[name].write.mode("overwrite").parquet(os.path.join(out_dir, name))


# ---------------------------------------------------------------------------------------- main

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="mlc offline feature job: feature snapshots and training sets")
    p.add_argument("--as-of", help="snapshot time, ISO-8601 (naive = UTC); default: latest event time + 1us")
    p.add_argument("--input", action="append", default=[], metavar="SOURCE=PATH",
                   help="override a source's data location (repeatable)")
    p.add_argument("--output", required=True, metavar="DIR")
    p.add_argument("--step", choices=("features", "training", "all"), default="all")
    p.add_argument("--data-root", metavar="DIR",
                   help="directory relative source locations resolve against (default: where the job starts)")
    return p


def _overrides(items: Sequence[str], ir: IR, parser: argparse.ArgumentParser) -> dict[str, str]:
    names = {s.name for s in ir.sources}
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"--input expects SOURCE=PATH, got {item!r}")
        if name not in names:
            parser.error(f"--input: unknown source `{name}` (sources: {', '.join(sorted(names))})")
        out[name] = path if "://" in path else os.path.abspath(path)
    return out


def _session(ir: IR) -> Any:
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active

    return local_session("mlc-feature-job", catalog=catalog_dir() if uses_catalog(ir) else None)


def main(argv: Sequence[str] | None = None, *, spec_dir: str, mldl_path: str | None = None,
         spark: Any = None, ir: IR | None = None) -> int:
    """Run the job; the IR is ``ir`` when given (already compiled by the caller), else read from
    ``mldl_path``. Relative sources resolve against ``spec_dir`` (``--data-root`` overrides it)."""
    parser = _parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if ir is None:
        if not mldl_path:
            parser.error("no mldl.json given (MLC_MLDL)")
        ir = load_ir(mldl_path)
    if args.data_root:
        spec_dir = os.path.abspath(args.data_root)
    inputs = _overrides(args.input, ir, parser)
    spark = spark or _session(ir)
    out = os.path.abspath(args.output)

    if args.step in ("features", "all") and ir.feature_groups:
        as_of = parse_time(args.as_of) if args.as_of else default_as_of(spark, ir, spec_dir, inputs)
        if as_of is None:
            sys.stderr.write("no events in the feature groups' sources: no snapshots written\n")
        else:
            write_snapshots(compute_snapshots(spark, ir, spec_dir, as_of, inputs), os.path.join(out, "features"))
            sys.stderr.write(f"wrote {len(ir.feature_groups)} feature snapshot(s) as of {as_of.isoformat()}\n")

    if args.step in ("training", "all") and ir.models:
        module = module_from_text(render_preprocess(ir))
        if any(a.fitted is None for a in ir.analyzers):
            sys.stderr.write("analyzers not fitted in the IR: fitting each on the labelled rows of the models "
                             "that read it (fitting plan)\n")
            ir = with_fitted(ir, fit_by_plan(spark, ir, module, spec_dir, inputs,
                                             note=lambda text: sys.stderr.write(f"note: {text}\n")))
        sets = training_sets(spark, ir, module, fitted_from_ir(ir), spec_dir, inputs)
        write_training_sets(sets, os.path.join(out, "training"))
        write_run_mldl(ir, out)
        sys.stderr.write(f"wrote {len(sets)} training set(s)\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:], spec_dir=os.getcwd(), mldl_path=os.environ.get("MLC_MLDL")))
