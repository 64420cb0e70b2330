"""The errors a serving request can end in, each with the HTTP status of its answer."""

from __future__ import annotations

from typing import Any, Mapping

from mlc.core.errors import MlcError


class ServingError(MlcError):
    """Base of the errors a request can end in; ``status`` is the HTTP status of the answer."""
    status = 500

    def __init__(self, message: str, fields: Mapping[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = dict(fields or {})

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body


class RequestError(ServingError):
    """The request is malformed: ``fields`` maps each offending field to what is wrong (400)."""
    status = 400


class ModelNotFound(ServingError):
    """The requested model does not exist or is not served by the request's shard (404)."""
    status = 404


class BackendUnavailable(ServingError):
    """The inference backend cannot be reached, timed out, or has no version to serve (503)."""
    status = 503


class BackendError(ServingError):
    """The inference backend answered with an error (502)."""
    status = 502


def short_error(err: Exception, limit: int = 300) -> str:
    """An error's text on one line, at most ``limit`` characters (for answers and /readyz)."""
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[:limit] + "..."
