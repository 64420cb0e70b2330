"""Online feature retrieval: N entities x G feature groups in ONE store round trip.

Keys are ``{namespace}:{group}:{schema_version}:{entity_key}``. Every component is escaped
so that ``:`` only ever separates components: ``%`` becomes ``%25`` and ``:`` becomes ``%3A``
(the entity key's parts are escaped one by one, then joined with ``:``), hence
``("a:b", "c") -> a%3Ab:c`` and ``("a", "b:c") -> a:b%3Ac`` never collide. Key parts are
rendered by dtype: int64/timestamp as decimal integers (timestamps in microseconds), bool as
``1``/``0``, float64 with ``repr``, string as is (UTF-8). A row with a null key part is not
looked up. Outputs without a value (missing entity or record, a failed store, a null in the
record) take the group's declared defaults (``FeatureGroupIR.defaults``: 0 for counts unless the
spec says otherwise), exactly as the offline computation does; other outputs are null.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from mlc.core.ir import IR, FeatureGroupIR
from mlc.runtime.numpy_ops.vec import Vec
from mlc.runtime.online_store import codec, tiles
from mlc.runtime.online_store.store import OnlineStore

log = logging.getLogger(__name__)


@dataclass
class Retrieval:
    columns: dict[str, Vec]     # `group.output` -> column, one row per entity row
    degraded: bool              # True when some outputs are defaults because the store failed
    errors: int                 # store calls / group decodes that failed
    found: dict[str, np.ndarray] = field(default_factory=dict)   # group -> rows whose record was read


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace(":", "%3A")


def _part(value: Any, dtype: str) -> str:
    if dtype == "bool":
        return "1" if value else "0"
    if dtype == "float64":
        return repr(float(value))
    if dtype == "timestamp":
        return str(codec._timestamp(value))
    if dtype == "int64":
        return str(int(value))
    return _escape(str(value))


def key_prefix(group: FeatureGroupIR, namespace: str, side: str = "") -> str:
    """``side``: ``""`` for a group's (batch) records, ``STREAM`` for a real-time group's stream records."""
    return f"{_escape(namespace)}:{_escape(group.name)}{side}:{codec.schema_version(group)}:"


STREAM = "~stream"        # group names are identifiers: `~` never occurs in one


def boundary_key(namespace: str, group: str) -> str:
    """Where ``mlc materialize`` records a real-time group's batch boundary (microseconds, text):
    its batch records hold the events before it, stream tiles from it on are used."""
    return f"{namespace}:__mlc_watermark__:{group}"


def entity_key(group: FeatureGroupIR, parts: Sequence[Any]) -> str:
    if len(parts) != len(group.keys):
        raise ValueError(f"group `{group.name}` is keyed by {[k.name for k in group.keys]}, got {len(parts)} parts")
    return ":".join(_part(v, k.dtype) for v, k in zip(parts, group.keys))


def record_key(group: FeatureGroupIR, namespace: str, parts: Sequence[Any], side: str = "") -> str:
    """The store key of one entity's record of ``group`` (``side=STREAM``: its stream record)."""
    return key_prefix(group, namespace, side) + entity_key(group, parts)


def put_features(store: OnlineStore, group: FeatureGroupIR, namespace: str,
                 rows: Iterable[tuple[Sequence[Any], Sequence[Any]]], ttl_seconds: int | None = None) -> int:
    """Write ``(entity key parts, output values)`` rows of ``group`` in one ``put_many``; the TTL
    defaults to the group's. Returns the number of records written."""
    prefix = key_prefix(group, namespace)     # the schema version is hashed once per batch
    items = [(prefix + entity_key(group, parts), codec.encode(group, values)) for parts, values in rows]
    store.put_many(items, ttl_seconds if ttl_seconds is not None else group.ttl_seconds)
    return len(items)


def _null_columns(group: FeatureGroupIR, n: int) -> dict[str, Vec]:
    return {c.name: Vec.full(None, c.dtype, n) for c in group.outputs}


def get_features(store: OnlineStore, ir: IR, groups: Sequence[str], entity_rows: Mapping[str, Sequence[Any]],
                 namespace: str, now_us: int | None = None) -> Retrieval:
    """Columns ``group.output`` for every entity row (``entity_rows``: key column -> values, all
    of one length), ready for ``mlc.runtime.preprocess.transform_numpy``. A store failure or
    timeout never raises: the outputs take their defaults (else null), ``degraded`` is set and
    ``errors`` counted. Real-time groups are evaluated at ``now_us`` (unix microseconds; default:
    the clock), from their batch and stream tile records (:mod:`.tiles`), in the same round trip.
    An unknown group or a missing key column is a caller error (``ValueError``)."""
    lengths = {len(v) for v in entity_rows.values()}
    if len(lengths) > 1:
        raise ValueError(f"entity key columns have different lengths: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    plans = []  # (group, row indices looked up, offset into keys)
    keys: list[str] = []
    for name in groups:
        try:
            group = ir.group(name)
        except StopIteration:
            raise ValueError(f"unknown feature group `{name}`") from None
        missing = [k.name for k in group.keys if k.name not in entity_rows]
        if missing:
            raise ValueError(f"feature group `{name}` needs entity key column(s) {missing}")
        prefix = key_prefix(group, namespace)
        columns = [entity_rows[k.name] for k in group.keys]
        rows = []
        start = len(keys)
        entities = []
        for row in range(n):
            parts = [col[row] for col in columns]
            if any(p is None for p in parts):
                continue
            rows.append(row)
            entities.append(entity_key(group, parts))
        keys.extend(prefix + e for e in entities)
        if group.realtime:
            stream_prefix = key_prefix(group, namespace, STREAM)
            keys.extend(stream_prefix + e for e in entities)
            keys.append(boundary_key(namespace, group.name))
        plans.append((group, rows, start))

    errors, degraded = 0, False
    blobs: list[bytes | None] | None = None
    if keys:
        try:
            blobs = store.get_many(keys)
            if len(blobs) != len(keys):
                raise RuntimeError(f"store returned {len(blobs)} values for {len(keys)} keys")
        except Exception as err:  # any backend: a failing store degrades, never fails the request
            log.warning("online store read failed (%d keys): %s", len(keys), err)
            errors, degraded, blobs = errors + 1, True, None

    out: dict[str, Vec] = {}
    found: dict[str, np.ndarray] = {}
    for group, rows, start in plans:
        columns = _null_columns(group, n)
        found[group.name] = np.zeros(n, dtype=bool)
        if blobs is not None and rows:
            records = blobs[start:start + len(rows)]
            try:
                if group.realtime:
                    now = now_us if now_us is not None else time.time_ns() // 1000
                    decoded, records = _realtime(group, blobs[start:start + 2 * len(rows) + 1], len(rows), now)
                else:
                    decoded = codec.decode_many(group, records)
            except codec.CodecError as err:
                log.warning("online store records of `%s` unreadable: %s", group.name, err)
                errors, degraded = errors + 1, True
            else:
                index = np.asarray(rows, dtype=np.int64)
                found[group.name][index] = [r is not None for r in records]
                for name, vec in decoded.items():
                    columns[name].data[index] = vec.data
                    columns[name].valid[index] = vec.valid
        _fill_defaults(group, columns)
        for name, vec in columns.items():
            out[f"{group.name}.{name}"] = vec
    return Retrieval(out, degraded, errors, found)


def _realtime(group: FeatureGroupIR, blobs: Sequence[bytes | None], n: int,
              now_us: int) -> tuple[dict[str, Vec], list[bytes | None]]:
    """Outputs of a real-time group for ``n`` entities from ``[batch records (n), stream records
    (n), boundary]``, and per entity a stand-in for "a record was found" (batch or stream)."""
    batch, _ = tiles.decode_many(group, blobs[:n])
    stream, _ = tiles.decode_many(group, blobs[n:2 * n])
    raw = blobs[2 * n]
    try:
        boundary = int(bytes(raw).decode()) if raw is not None else tiles.NO_BOUNDARY
    except ValueError as err:
        raise codec.CodecError(f"group `{group.name}`: unreadable batch boundary {raw!r}") from err
    merged = tiles.visible(group, batch, stream, boundary)
    found = [b if b is not None else s for b, s in zip(blobs[:n], blobs[n:2 * n])]
    return tiles.window_outputs(group, merged, n, now_us), found


def _fill_defaults(group: FeatureGroupIR, columns: dict[str, Vec]) -> None:
    """Null outputs (missing entity, failed store, no value in the window) take the group's
    declared defaults -- the same ones the offline computation applies."""
    for name, value in group.defaults:
        vec = columns[name]
        if not vec.valid.all():
            vec.data[~vec.valid] = value
            vec.valid[:] = True
