"""What every workflow of :mod:`mlc.app` shares: building the spec, the run's default places,
the errors a workflow raises, and turning a data, store or Spark failure into one.

Light at import time (no numpy, pyspark ...): the heavy modules are imported inside the
functions that need them.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from mlc.core.errors import MlcError
from mlc.core.names import parse_timestamp
from mlc.runtime.app_state import app_dir, run_dir
from mlc.runtime.features.session import catalog_dir as catalog_of, local_session, uses_catalog
from mlc.runtime.features.sources import SourceError

Progress = Callable[[str], None]                     # one line of progress (no newline)
Diagnostics = Callable[[list, Any], None]            # (diagnostics, sources): shown as they come


def quiet(line: str) -> None:
    """The default progress: nothing."""


def unshown(diagnostics: list, sources: Any) -> None:
    """The default for diagnostics of a build that went through: nothing."""


class SpecErrors(MlcError):
    """The spec does not build: its diagnostics (with their sources) say why."""

    def __init__(self, diagnostics: list, sources: Any):
        first = next((d for d in diagnostics if d.is_error), None)
        super().__init__(first.message if first else "the spec has errors", code=first.code if first else None)
        self.diagnostics, self.sources = list(diagnostics), sources


class Failed(MlcError):
    """A failure already reported (the step printed its own diagnostics): end with ``status``."""

    def __init__(self, status: int, message: str = ""):
        super().__init__(message or f"failed with exit code {status}")
        self.status = status


def built(spec: str, env: str | None, diagnostics: Diagnostics = unshown, baseline: Any = None) -> Any:
    """The spec built; its diagnostics (warnings) go to ``diagnostics``; SpecErrors when it has errors."""
    from mlc.compiler.pipeline import build

    result = build(spec, env, baseline) if baseline is not None else build(spec, env)
    if not result.ok:
        raise SpecErrors(result.diagnostics, result.sources)
    diagnostics(result.diagnostics, result.sources)
    return result


def spec_dir(spec: str) -> str:
    return os.path.dirname(os.path.abspath(spec))


def default_store_url(spec_path: str) -> str:
    """The embedded default online store: SQLite beside the spec, in `.mlc/<app>/online.sqlite`
    (one per application, `mlc.runtime.app_state`)."""

    folder = app_dir(spec_path)
    os.makedirs(folder, exist_ok=True)
    return "sqlite:" + os.path.join(folder, "online.sqlite")


def default_run_dir(spec_path: str) -> str:
    """The default run folder (`--output`): `.mlc/<app>/data` beside the spec."""

    return run_dir(spec_path)


def parse_time(text: str) -> Any:
    """An ISO-8601 timestamp (E7004 when it is none)."""

    value = parse_timestamp(text)
    if value is None:
        raise MlcError(f"`{text}` is not an ISO-8601 timestamp", code="E7004", hint="e.g. 2024-06-08T00:00:00Z")
    return value


def require_spark() -> None:
    try:
        import numpy  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise MlcError(f"this command needs {exc.name}", code="E7001",
                       hint="install the Spark extra: pip install 'mlc[spark]'") from None


def spark_session(app: str, ir: Any, catalog_dir: str | None = None) -> Any:
    """A local session, quiet (failures are reported as diagnostics, not JVM logs); with Hive
    support and the catalog directory when the spec reads tables."""

    catalog = catalog_of(catalog_dir) if uses_catalog(ir) else None
    spark = local_session(app, catalog=catalog)
    spark.sparkContext.setLogLevel("OFF")
    return spark


def classified(exc: BaseException) -> BaseException:
    """A data, store or Spark failure as the MlcError to report; anything else unchanged (a bug
    keeps its traceback). Raise what this returns."""
    return _store_failure(exc) or _spark_failure(exc) or exc


def _spark_failure(exc: BaseException) -> MlcError | None:
    """A data problem Spark raised while running (malformed rows, schema mismatches); None for
    anything that is not a Spark error."""
    module = type(exc).__module__
    if not (module.startswith("pyspark") or module.startswith("py4j")):
        return None
    import re

    text = str(exc)
    classes = re.findall(r"\[[A-Z][A-Z_]{3,}\][^\n]*", text)   # Spark error classes; the last is the root cause
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = classes[-1].strip() if classes else (lines[0] if lines else type(exc).__name__)
    return MlcError(f"Spark could not process the data: {detail[:300]}", code="E7003",
                    hint="check that the data matches the source's declared `columns`; "
                         "`on_bad_rows: drop` skips malformed CSV rows")


def _store_failure(exc: BaseException) -> MlcError | None:
    if type(exc) is MlcError:           # raised by a workflow: reported as it is
        return None
    from mlc.runtime.online_store import StoreError, StoreNotFound

    if isinstance(exc, StoreNotFound):
        return MlcError(f"online store: {exc}", code="E7230")
    if isinstance(exc, StoreError):
        return MlcError(f"online store: {exc}", code="E7005")
    if isinstance(exc, SourceError):
        return MlcError(str(exc), code="E7003")
    return None

