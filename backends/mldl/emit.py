"""Serialise the IR as ``mldl.json``: what ships next to every model version so serving runs
exactly the preprocessing training ran. Its JSON Schema is ``schemas/mldl.schema.json``."""

from __future__ import annotations

import json

from mlc.core.ir import IR, to_jsonable


def render(ir: IR) -> str:
    return json.dumps(to_jsonable(ir), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def emit(ir: IR) -> dict[str, str]:
    return {"mldl.json": render(ir)}
