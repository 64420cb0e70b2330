"""Service URLs without their secrets, for logs, errors and command output.

    redact_url("redis://user:secret@cache:6379/0")          -> "redis://user:***@cache:6379/0"
    redact_url("redis://cache:6379/0?password=secret")      -> "redis://cache:6379/0?password=***"
    redact_text("cannot connect to redis://:secret@h/0", url) -> "cannot connect to redis://:***@h/0"

Every store and registry URL shown to a person goes through :func:`redact_url` (the online store,
the model registry, the gateway, the CLI); text that may quote a URL -- an exception from a
client library -- goes through :func:`redact_text`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

HIDDEN = "***"
SECRET_PARAMETERS = frozenset({"password", "pass", "passwd", "pwd", "secret", "token", "access_token", "auth",
                               "api_key", "apikey", "key"})
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/?#]*):(?P<password>.*)@", re.DOTALL)


def redact_url(url: str) -> str:
    """``url`` with the password of its user info and the values of secret query parameters
    (``password=``, ``token=`` ...) replaced by ``***``; URLs without secrets come back unchanged.
    The user info is matched up to the LAST ``@`` before the host, so a password containing ``/``,
    ``:`` or ``@`` is hidden whole."""
    text = str(url)
    match = _userinfo(text)
    if match is not None:
        text = f"{match['scheme']}{match['user']}:{HIDDEN}@" + text[match.end():]
    return _redact_query(text)


def redact_text(text: str, *urls: str) -> str:
    """``text`` (an error message) with every secret of ``urls`` -- raw and percent-decoded --
    replaced by ``***``, and each URL itself by its redacted form."""
    out = str(text)
    for url in urls:
        if not url:
            continue
        out = out.replace(url, redact_url(url))
        for secret in secrets_of(url):
            out = out.replace(secret, HIDDEN)
    return out


def secrets_of(url: str) -> list[str]:
    """The secret strings in ``url`` (the password, secret query values), raw and decoded,
    longest first; empty strings are left out."""
    found: set[str] = set()
    match = _userinfo(str(url))
    if match is not None:
        found.update({match["password"], unquote(match["password"])})
    query = _query(str(url))
    if query:
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name.lower() in SECRET_PARAMETERS:
                found.add(value)
        found.update(v for n, v in _raw_pairs(query) if n.lower() in SECRET_PARAMETERS)
    return sorted((s for s in found if s), key=len, reverse=True)


def _userinfo(text: str) -> re.Match | None:
    """``scheme://user:password@``: the user info runs to the last ``@`` before the query or
    fragment, so a password holding ``@``, ``/`` or ``:`` is matched whole."""
    start = text.find("://")
    if start < 0:
        return None
    rest = re.split(r"[?#]", text[start + 3:], maxsplit=1)[0]
    at = rest.rfind("@")
    if at < 0:
        return None
    return _USERINFO.fullmatch(text[:start + 3 + at + 1])


def _query(text: str) -> str:
    try:
        return urlsplit(text).query
    except ValueError:
        return text.split("?", 1)[1] if "?" in text else ""


def _raw_pairs(query: str) -> list[tuple[str, str]]:
    return [tuple(part.split("=", 1)) for part in query.split("&") if "=" in part]  # type: ignore[misc]


def _redact_query(text: str) -> str:
    if "?" not in text:
        return text
    head, _, tail = text.partition("?")
    query, hash_mark, fragment = tail.partition("#")
    parts = []
    for part in query.split("&"):
        name, equals, _value = part.partition("=")
        parts.append(f"{name}={HIDDEN}" if equals and unquote(name).lower() in SECRET_PARAMETERS else part)
    return f"{head}?{'&'.join(parts)}{hash_mark}{fragment}"
