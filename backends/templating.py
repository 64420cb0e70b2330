"""What every backend's Jinja2 templates share: the environment and the escaping filters.

Spec text reaches generated files only through these filters:

* ``py`` -- ``repr``: a Python literal, never code;
* ``doc`` -- text safe inside a triple-quoted docstring (:func:`doc_text`);
* ``comment`` -- a one-line comment body (:func:`comment_text`);
* ``sh`` -- one shell word (``shlex.quote``).

Also the name rule backends share: :func:`bounded_name` (a Kubernetes name cut to a length
limit, kept unique by a hash suffix), so no backend imports another backend's helpers.
"""

from __future__ import annotations

import hashlib
import shlex
from typing import Any


def doc_text(text: str) -> str:
    """Text safe inside a triple-quoted docstring: no quote, backslash or control character
    can end it or form an escape."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif not ch.isprintable():
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def comment_text(text: str) -> str:
    """A one-line comment body; control characters cannot end the comment."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def environment(package: str) -> Any:
    """The Jinja2 environment of ``package``'s ``templates/``: strict undefined, no
    autoescaping (the filters above do the escaping), trailing newlines kept."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
    )
    env.filters["py"] = repr
    env.filters["doc"] = doc_text
    env.filters["comment"] = comment_text
    env.filters["sh"] = shlex.quote
    return env


def bounded_name(name: str, limit: int) -> str:
    """``name``, or when longer than ``limit`` its prefix and 8 hex digits of its sha256."""
    if len(name) <= limit:
        return name
    return name[:limit - 9].rstrip("-") + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
