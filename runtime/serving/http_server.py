"""A bounded HTTP/1.1 server (stdlib ``http.server``) that JSON services stand on: the gateway.

* :class:`BoundedServer`: one daemon thread per open connection, at most
  ``Limits.max_connections``; a connection past the limit is answered ``503`` with
  ``Retry-After`` at once (written by the accepting thread; the socket drained and closed by one
  selector thread, :class:`_Rejecter`) instead of queueing. The listen backlog is
  ``LISTEN_BACKLOG``.
* :class:`BoundedHandler`: reads have a deadline (``Limits.idle_timeout``): waiting for a request
  plus reading its request line and headers, then reading its body, so a client that trickles
  bytes cannot hold a thread longer; every protocol error of ``http.server`` (400, 414, 431,
  501 ...) is answered as JSON; one ``Content-Length`` of digits is required for a body
  (:func:`content_length`); a connection closed with input unread is drained first, so the
  client reads the answer instead of a reset.

``metrics`` of the server: any object with ``connection_opened()``, ``connection_closed()`` and
``connection_rejected()`` (:class:`~mlc.runtime.serving.metrics.ServingMetrics`).
"""

from __future__ import annotations

import io
import json
import logging
import queue
import re
import selectors
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from mlc.core.errors import MlcError

log = logging.getLogger("mlc.gateway")

MAX_BODY_BYTES = 16 * 2 ** 20
JSON_TYPE = "application/json"
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_IDLE_TIMEOUT = 30.0
LISTEN_BACKLOG = 1024          # the kernel caps it at net.core.somaxconn
RETRY_AFTER_S = 1
LINGER_S = 1.0                 # draining the unread input of a connection closed on an error
LINGER_BYTES = 1 << 20
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Limits:
    """What one gateway process holds at most (see the module docstring)."""
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.idle_timeout <= 0:
            raise ValueError(f"invalid limits {self}: max_connections >= 1 and idle_timeout > 0 are needed")



def content_length(headers: Any) -> int:
    """The body length from the headers: exactly one ``Content-Length`` of decimal digits, at
    most MAX_BODY_BYTES; no ``Transfer-Encoding``. Else ``HttpError`` (400, 411, 413)."""
    if headers.get("Transfer-Encoding") is not None:
        raise HttpError(411, "send the body with a Content-Length (Transfer-Encoding is not accepted)")
    values = headers.get_all("Content-Length") or []
    if len(values) > 1:
        raise HttpError(400, "several Content-Length headers", {"Content-Length": f"{len(values)} given; send one"})
    text = values[0].strip() if values else "0"
    if not _DIGITS.fullmatch(text):
        raise HttpError(400, "invalid Content-Length", {"Content-Length": f"not a non-negative integer: {text[:40]!r}"})
    if len(text) > 12 or int(text) > MAX_BODY_BYTES:
        raise HttpError(413, f"request body of {text[:40]} bytes; at most {MAX_BODY_BYTES}")
    return int(text)


class HttpError(MlcError):
    def __init__(self, status: int, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.fields = status, message, fields

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message, **({"fields": self.fields} if self.fields else {})}


class _DeadlineSocketIO(socket.SocketIO):
    """The handler's socket for reading: every ``recv`` waits at most until the handler's
    ``read_deadline`` (a per-read timeout alone lets a client trickle one byte at a time)."""

    def __init__(self, sock: socket.socket, handler: "BoundedHandler"):
        super().__init__(sock, "rb")
        sock._io_refs += 1             # type: ignore[attr-defined] - as socket.makefile counts its files
        self._handler = handler

    def readinto(self, buffer: Any) -> int | None:
        left = self._handler.read_deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("read deadline passed")
        self._sock.settimeout(left)
        return super().readinto(buffer)



class BoundedHandler(BaseHTTPRequestHandler):
    server_version = "mlc-gateway"
    protocol_version = "HTTP/1.1"
    error_content_type = JSON_TYPE
    # headers and body go out in separate writes: with Nagle on, the body waited for the
    # client's delayed ACK, ~40 ms per response (bench/RESULTS.md, serving)
    disable_nagle_algorithm = True
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    read_deadline: float = 0.0
    unread_input = False   # True once the connection must close with input left unread

    # ------------------------------------------------------------------ connection

    def setup(self) -> None:
        self.timeout = self.idle_timeout
        super().setup()
        self.rfile.close()
        self.rfile = io.BufferedReader(_DeadlineSocketIO(self.connection, self))

    def handle_one_request(self) -> None:
        self.read_deadline = time.monotonic() + self.idle_timeout     # the wait plus the request head
        super().handle_one_request()

    def handle(self) -> None:
        super().handle()
        if self.unread_input:
            self._drain_input()

    def _drain_input(self) -> None:
        """Closing a socket with unread input resets the connection, which can destroy the error
        answer before the client reads it: stop writing, then read what the client still sends
        (at most LINGER_BYTES for LINGER_S)."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            deadline, drained = time.monotonic() + LINGER_S, 0
            while drained < LINGER_BYTES and (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), (format % args)[:500])

    # ------------------------------------------------------------------ answers

    def send_response(self, code: int, message: str | None = None) -> None:
        self.connection.settimeout(self.idle_timeout)      # writes: the last read left a shorter timeout
        super().send_response(code, message)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """``http.server``'s protocol errors (400 bad request line, 414, 431, 501 ...) as JSON."""
        self.log_error("code %d, message %s", code, message)
        try:
            text = message or HTTPStatus(code).phrase
        except ValueError:
            text = "error"
        if explain and explain != text:
            text = f"{text}: {explain}"
        self.close_connection = True
        self.unread_input = True
        if self.request_version == "HTTP/0.9":   # unparsed (e.g. HTTP/9.9): answer with a status line all the same
            self.request_version = "HTTP/1.1"
        body = json.dumps({"error": text[:500]}).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
            self.wfile.write(body)

    def _send(self, status: int, body: bytes, content_type: str = JSON_TYPE) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, document: Any) -> None:
        self._send(status, json.dumps(document, allow_nan=False, separators=(",", ":")).encode("utf-8"))

    def _error(self, status: int, message: str, fields: dict | None = None) -> None:
        self._json(status, HttpError(status, message, fields).to_json())

    def _close_unread(self) -> None:
        """This request's body (if any) is not read: the connection cannot carry another one."""
        if self.headers.get("Content-Length", "0").strip() not in ("", "0") or self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self.unread_input = True

    def _read_body(self) -> bytes:
        try:
            length = content_length(self.headers)
        except HttpError:
            self.close_connection = self.unread_input = True      # the body cannot be skipped
            raise
        if length == 0:
            return b""
        self.read_deadline = time.monotonic() + self.idle_timeout
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            raise HttpError(408, f"the request body did not arrive within {self.idle_timeout:g}s") from None
        if len(body) < length:
            self.close_connection = True
            raise HttpError(400, "the body is shorter than its Content-Length",
                             {"body": f"{len(body)} of {length} bytes before the client stopped sending"})
        return body


# ------------------------------------------------------------------------------------ server


class BoundedServer(HTTPServer):
    """``HTTPServer`` with one daemon thread per connection and at most ``limits.max_connections``
    of them; a connection past the limit gets a 503 with ``Retry-After`` (:class:`_Rejecter`)."""

    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], handler: type, metrics: Any, limits: Limits):
        self.metrics, self.limits = metrics, limits
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._open: dict[socket.socket, threading.Thread] = {}
        self._open_lock = threading.Lock()
        self._rejecter = _Rejecter(_saturated_answer(limits.max_connections))
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.metrics.connection_rejected()
            self._rejecter.reject(request)
            return
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address),
                                  name="mlc-gateway-connection", daemon=True)
        with self._open_lock:
            self._open[request] = thread
        self.metrics.connection_opened()
        try:
            thread.start()
        except BaseException:            # no thread to be had: the caller closes the socket
            self._forget(request)
            raise

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._forget(request)

    def _forget(self, request: Any) -> None:
        with self._open_lock:
            self._open.pop(request, None)
        self.metrics.connection_closed()
        self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.debug("connection from %s ended: %r", client_address, error)
        else:
            log.exception("connection from %s failed", client_address)

    @property
    def open_connections(self) -> int:
        with self._open_lock:
            return len(self._open)

    def server_close(self, wait: float = 2.0) -> None:
        """Stop listening, end every open connection (their threads exit; waited for at most
        ``wait`` seconds) and the rejecter."""
        super().server_close()
        with self._open_lock:
            open_now = dict(self._open)
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._rejecter.close()
        deadline = time.monotonic() + wait
        for thread in open_now.values():
            thread.join(max(deadline - time.monotonic(), 0.0))


def _saturated_answer(limit: int) -> bytes:
    body = json.dumps({"error": f"the gateway is at its limit of {limit} open connections; retry later"}).encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: {JSON_TYPE}\r\nContent-Length: {len(body)}\r\n"
            f"Retry-After: {RETRY_AFTER_S}\r\nConnection: close\r\n\r\n")
    return head.encode("ascii") + body


class _Rejecter:
    """Answers connections past the limit without a thread each: the 503 is written at once by
    the accepting thread (a fresh socket's buffer takes it), then one selector thread reads what
    the client sends until it closes, or for ``linger`` seconds, and closes the socket (closing
    with unread input would reset the connection and could destroy the answer)."""

    def __init__(self, answer: bytes, linger: float = 2.0, max_lingering: int = 4096):
        self.answer, self.linger, self.max_lingering = answer, linger, max_lingering
        self._incoming: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()
        self._lingering: dict[socket.socket, float] = {}
        self._selector = selectors.DefaultSelector()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def reject(self, sock: socket.socket) -> None:
        try:
            sock.setblocking(False)
            sock.send(self.answer)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            sock.close()
            return
        with self._lock:
            if self._stopped.is_set() or self._incoming.qsize() + len(self._lingering) >= self.max_lingering:
                sock.close()
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mlc-gateway-rejecter", daemon=True)
                self._thread.start()
        self._incoming.put(sock)

    def _run(self) -> None:
        while not self._stopped.is_set():
            if not self._lingering:
                try:
                    self._add(self._incoming.get(timeout=0.5))
                except queue.Empty:
                    continue
            while not self._incoming.empty():
                self._add(self._incoming.get_nowait())
            for key, _ in self._selector.select(timeout=0.05):
                self._drain(key.fileobj)       # type: ignore[arg-type]
            now = time.monotonic()
            for sock in [s for s, until in self._lingering.items() if until <= now]:
                self._drop(sock)
        for sock in list(self._lingering):
            self._drop(sock)

    def _add(self, sock: socket.socket) -> None:
        self._lingering[sock] = time.monotonic() + self.linger
        self._selector.register(sock, selectors.EVENT_READ)

    def _drain(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        self._lingering.pop(sock, None)
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()

    def close(self) -> None:
        self._stopped.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout=2.0)
        while not self._incoming.empty():
            self._incoming.get_nowait().close()
