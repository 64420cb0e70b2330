"""Names, durations and timestamps: the small value rules every section shares.

Names from specs become Python identifiers (generated modules), file names (artifact
tree) and, with ``_`` replaced by ``-``, Kubernetes DNS-1123 labels. The strictest rule that
satisfies all three is enforced: lowercase ``[a-z][a-z0-9_]*``, at most 40 characters (room for
prefixes inside Kubernetes' 63-character limit), no trailing or double underscore, and not a
Python keyword.
"""

from __future__ import annotations

import keyword
import re
from datetime import datetime, timezone

NAME_RE = re.compile(r"[a-z][a-z0-9_]*\Z")
MAX_NAME = 40
NAME_RULE = ("lowercase letters, digits and `_`, starting with a letter, at most 40 characters, "
             "no trailing or double `_`, not a Python keyword (names become Python identifiers, "
             "file names and Kubernetes names)")

DURATION_RE = re.compile(r"([0-9]+)(s|m|h|d|w)\Z")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid mlc name, or None."""
    if not NAME_RE.match(name):
        if name and NAME_RE.match(name.lower().replace("-", "_")):
            return "must be lowercase snake_case"
        return "may contain only lowercase letters, digits and `_`, and must start with a letter"
    if len(name) > MAX_NAME:
        return f"is {len(name)} characters long; the limit is {MAX_NAME}"
    if name.endswith("_") or "__" in name:
        return "must not end with `_` or contain `__`"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "is a Python keyword"
    return None


def suggest_name(name: str) -> str:
    fixed = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    fixed = re.sub(r"_+", "_", fixed)
    if not fixed or not fixed[0].isalpha():
        fixed = "x_" + fixed
    return fixed[:MAX_NAME].rstrip("_")


def k8s_name(*parts: str) -> str:
    return "-".join(parts).replace("_", "-")


def duration_seconds(text: str) -> int | None:
    match = DURATION_RE.match(text)
    if not match or int(match.group(1)) == 0:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_timestamp(text: str) -> datetime | None:
    """ISO-8601; a missing offset means UTC. None when unparseable."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def canonical_timestamp(text: str) -> str:
    value = parse_timestamp(text)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else text
