"""Real-time features: `stream` (the streaming job in this process, until Ctrl-C or, with
``once``, until what the stream holds now is processed), `push_events` (`mlc events push`: events
appended to a ``files`` stream for a demo) and `stream_status` (what `mlc status` shows of the
job: its status file, ``mlc.runtime.streaming.status``).

The job itself is :mod:`mlc.runtime.streaming.job` (Spark Structured Streaming, NumPy), imported
when a job runs (:func:`job_runner`), so the other workflows here never load it.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, IO

from mlc.app.common import (
    built, classified, default_store_url, Diagnostics, Failed, Progress, quiet, require_spark, spec_dir, unshown,
)
from mlc.core.errors import MlcError
from mlc.core.suggest import did_you_mean
from mlc.runtime.app_state import app_dir
from mlc.runtime.deploy.state import load_state
from mlc.runtime.streaming.push import event_lines, not_objects, push_lines, stream_folder
from mlc.runtime.streaming.status import read_status
from mlc.runtime.urls import redact_url



@dataclass
class StreamOptions:
    spec: str
    env: str | None = None
    store: str | None = None               # default: the app's SQLite store (.mlc/<name>/online.sqlite)
    sources: list[str] = field(default_factory=list)     # default: every source with `stream:`
    once: bool = False                     # process what the stream holds now, then stop
    state_dir: str | None = None           # default: .mlc/<name>/stream beside the spec


@dataclass
class Pushed:
    """What `events push` wrote: the file (None when there was nothing to push), its lines, how
    many of them are not JSON objects (the job counts them as bad), the stream folder."""
    path: str | None
    lines: int
    not_objects: int
    folder: str


def default_state_dir(spec: str) -> str:
    """``.mlc/<app>/stream`` beside the spec: the streaming job's checkpoints and status."""
    return os.path.join(app_dir(spec), "stream")


def stream_sources(ir: Any) -> list[Any]:
    """The sources with a live side (``stream:``), in IR order."""
    return [s for s in ir.sources if s.stream is not None]


def stream_source(ir: Any, name: str) -> Any:
    """The source ``name``, which must have a ``stream:`` (E7301 otherwise, with did-you-mean)."""
    sources = {s.name: s for s in ir.sources}
    if name not in sources:
        streams = [s.name for s in stream_sources(ir)]
        raise MlcError(f"unknown source `{name}`", code="E7301",
                       hint=did_you_mean(name, streams or sources, "stream sources" if streams else "sources"))
    if sources[name].stream is None:
        streams = ", ".join(f"`{s.name}`" for s in stream_sources(ir))
        raise MlcError(f"source `{name}` has no `stream:` (it is read in batch only)", code="E7301",
                       hint=f"sources with a stream: {streams}" if streams else
                       "declare its live side: `stream: {kind: files, path: streams/NAME}` (docs/spec.md)")
    return sources[name]


def chosen_sources(ir: Any, names: list[str]) -> list[str] | None:
    """The stream sources to run (None: every one); E7300 when the spec has none."""
    if not stream_sources(ir):
        raise MlcError(f"`{ir.name}` has no source with `stream:`: there is nothing to stream", code="E7300",
                       hint="give the source of a feature group a live side, e.g. `stream: {kind: files, path: "
                            "streams/orders}` (docs/spec.md); the batch pipeline is `mlc run`")
    for name in names:
        stream_source(ir, name)
    return list(dict.fromkeys(names)) or None


# ------------------------------------------------------------------------------ mlc stream


def job_runner() -> Callable[..., dict]:
    """``run`` of the streaming job (Spark Structured Streaming), loaded now."""
    require_spark()
    from mlc.runtime.streaming.job import run

    return run


def stream(options: StreamOptions, progress: Progress = quiet, diagnostics: Diagnostics = unshown,
           stop: threading.Event | None = None, runner: Callable[..., dict] | None = None) -> dict:
    """Run the streaming job of the spec's stream sources until ``stop`` is set or Ctrl-C (which stops the
    queries; an interrupted micro-batch is replayed at the next start), or with ``once`` until the stream's current content is
    processed; its final status (``mlc.runtime.streaming.status``). ``runner``: the job's
    ``run`` (default: :func:`job_runner`)."""
    result = built(options.spec, options.env, diagnostics)
    ir = result.ir
    sources = chosen_sources(ir, options.sources)
    store = options.store or default_store_url(options.spec)
    state_dir = os.path.abspath(options.state_dir or default_state_dir(options.spec))
    stop = stop or threading.Event()
    runner = runner or job_runner()
    names = sources or [s.name for s in stream_sources(ir)]
    progress(f"streaming {', '.join(names)} into {redact_url(store)} (state {state_dir})"
             + ("; until the current events are processed" if options.once else "; Ctrl-C stops"))

    def call() -> dict:
        return runner(ir, spec_dir=spec_dir(options.spec), store_url=store, namespace=ir.name, state_dir=state_dir,
                      sources=sources, available_now=options.once, stop=stop, progress=progress)

    return until_interrupted(call, stop, progress)


def until_interrupted(call: Callable[[], dict], stop: threading.Event, progress: Progress = quiet) -> dict:
    """``call()`` in a worker thread. Ctrl-C (SIGINT, handled here while it runs) sets ``stop``:
    the job stops its queries (a micro-batch it interrupts is replayed, exactly once, at the next start), and this keeps waiting; a second Ctrl-C leaves
    without waiting (Failed 130). The worker's exception is raised here (a data, store or Spark
    failure as its MlcError)."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = exc

    def interrupted(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        progress("stopping the streaming queries (Ctrl-C again to leave at once)")
        stop.set()

    previous = _handle_sigint(interrupted)
    try:
        worker = threading.Thread(target=work, name="mlc-stream", daemon=True)
        worker.start()
        worker.join()
    except KeyboardInterrupt:
        raise Failed(130, "interrupted twice: left without waiting for the streaming job") from None
    finally:
        _restore_sigint(previous)
    if "error" in outcome:
        raise classified(outcome["error"]) from None
    return outcome.get("value") or {}


_UNSET = object()


def _handle_sigint(handler: Callable[[int, Any], None]) -> Any:
    """Install ``handler`` for SIGINT (only the main thread can); the handler it replaces."""
    if threading.current_thread() is not threading.main_thread():
        return _UNSET
    return signal.signal(signal.SIGINT, handler)


def _restore_sigint(previous: Any) -> None:
    if previous is not _UNSET:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


# ------------------------------------------------------------------------- mlc events push


def push_events(spec: str, source: str, file: str, *, env: str | None = None, stdin: IO[str] | None = None,
                diagnostics: Diagnostics = unshown) -> Pushed:
    """Append the JSON lines of ``file`` (``-``: ``stdin``) to the ``files`` stream of ``source``
    as one new file, atomically. Events are not validated (the streaming job counts bad ones)."""
    result = built(spec, env, diagnostics)
    found = stream_source(result.ir, source)
    if found.stream.kind != "files":
        raise _not_files(found)
    folder = stream_folder(result.ir, source, spec_dir(spec))
    lines = event_lines(_read_lines(file, stdin))
    if not lines:
        return Pushed(None, 0, 0, folder)
    try:
        path = push_lines(folder, lines)
    except OSError as err:
        raise MlcError(f"cannot write to the stream folder {folder}: {err.strerror or err}", code="E7000") from None
    return Pushed(path, len(lines), not_objects(lines), folder)


def _not_files(source: Any) -> MlcError:
    stream = source.stream
    servers = dict(stream.options).get("bootstrap_servers", "?")
    return MlcError(f"source `{source.name}` streams from the Kafka topic `{stream.location}` on {servers}; "
                    f"`mlc events push` writes only to `files` streams", code="E7302",
                    hint=f"send the events with a Kafka producer, e.g. `kafka-console-producer.sh "
                         f"--bootstrap-server {servers} --topic {stream.location} < events.jsonl`")


def _read_lines(file: str, stdin: IO[str] | None) -> list[str]:
    if file == "-":
        import sys

        try:
            return list(stdin if stdin is not None else sys.stdin)
        except UnicodeDecodeError as err:
            raise MlcError(f"the events on stdin are not UTF-8 text: {err.reason}", code="E7303") from None
    try:
        with open(file, encoding="utf-8") as handle:
            return list(handle)
    except OSError as err:
        raise MlcError(f"cannot read the events file {file}: {err.strerror or err}", code="E7303",
                       hint="one JSON object per line; `-` reads stdin") from None
    except UnicodeDecodeError as err:
        raise MlcError(f"the events file {file} is not UTF-8 text: {err.reason}", code="E7303") from None


# ------------------------------------------------------------------------------ mlc status


def stream_status(spec: str, ir: Any) -> dict | None:
    """What `mlc status` shows of the local streaming job: its state folder, the process `mlc run`
    started (when recorded) and the job's ``status.json`` (``sources``, ``groups``; empty before
    its first report). None when the spec has no stream source and no status was written."""
    from mlc.runtime.deploy.triton_control import pid_alive

    state_dir = default_state_dir(spec)
    found = read_status(state_dir)
    if found is None and not stream_sources(ir):
        return None
    try:
        record = (load_state(spec) or {}).get("stream") or {}
    except ValueError:
        record = {}
    job = {"pid": record.get("pid"), "log": record.get("log"),
           "running": pid_alive(record.get("pid"), record.get("started"))} if record else None
    found = found or {}
    return {"state_dir": state_dir, "job": job, "reported": bool(found),
            "sources": found.get("sources") or {}, "groups": found.get("groups") or {}}
