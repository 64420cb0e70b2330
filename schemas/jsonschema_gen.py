"""JSON Schemas mlc publishes: the spec schema (for editors) and the mldl.json schema.

Both are generated and committed (``schemas/mlc.schema.json``, ``schemas/mldl.schema.json``);
a test checks the committed copies are current. Regenerate with ``mlc schema --write``.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any
from mlc.core.names import MAX_NAME
from mlc.schemas.spec import Spec
from mlc.core import ir

SPEC_SCHEMA_FILE = "mlc.schema.json"
FRAGMENT_SCHEMA_FILE = "mlc.fragment.schema.json"
MLDL_SCHEMA_FILE = "mldl.schema.json"
SCHEMA_ID = "https://mlc.dev/schemas/"


def spec_schema() -> dict:
    schema = Spec.model_json_schema()
    properties = schema["properties"]
    properties["include"] = {
        "description": "Spec files whose sections are merged into this one (paths relative to this file).",
        "type": "array", "items": {"type": "string"},
    }
    properties["environments"] = {
        "description": "Overlays selected with `mlc compile --env NAME`: mappings merge key by key, lists and scalars replace.",
        "type": "object", "additionalProperties": {"type": "object"},
    }
    properties["$schema"] = {"type": "string"}
    name_rule = {"pattern": rf"^[a-z][a-z0-9_]{{0,{MAX_NAME - 1}}}$"}
    for definition in schema.get("$defs", {}).values():
        for prop in definition.get("properties", {}).values():
            if prop.get("type") == "object" and "additionalProperties" in prop:
                prop.setdefault("propertyNames", name_rule)
    for prop in properties.values():
        if prop.get("type") == "object" and "additionalProperties" in prop and prop is not properties["environments"]:
            prop.setdefault("propertyNames", name_rule)
    ordered = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID + SPEC_SCHEMA_FILE,
               "title": "mlc spec"}
    ordered.update(schema)
    ordered["title"] = "mlc spec"
    return ordered


def fragment_schema() -> dict:
    """Schema for files that are only included: the spec's sections, none required."""
    schema = spec_schema()
    schema["$id"] = SCHEMA_ID + FRAGMENT_SCHEMA_FILE
    schema["title"] = "mlc spec fragment (included file)"
    schema.pop("required", None)
    schema["properties"].pop("environments", None)
    return schema


def committed() -> dict[str, dict]:
    """File name -> schema, for every committed schema."""
    return {SPEC_SCHEMA_FILE: spec_schema(), FRAGMENT_SCHEMA_FILE: fragment_schema(), MLDL_SCHEMA_FILE: mldl_schema()}


def mldl_schema() -> dict:
    defs: dict[str, Any] = {}
    root = _dataclass_schema(ir.IR, defs)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID + MLDL_SCHEMA_FILE,
              "title": "mldl.json"}
    schema.update(root)
    schema["$defs"] = dict(sorted(defs.items()))
    return schema


def _dataclass_schema(cls: type, defs: dict[str, Any]) -> dict:
    hints = typing.get_type_hints(cls)
    props = {f.name: _type_schema(hints[f.name], defs) for f in dataclasses.fields(cls)}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def _type_schema(tp: Any, defs: dict[str, Any]) -> dict:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}
            defs[tp.__name__] = _dataclass_schema(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        return {"anyOf": [_type_schema(a, defs) for a in args]}
    if tp is type(None):
        return {"type": "null"}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            inner = args[0]
            if typing.get_origin(inner) is tuple and typing.get_args(inner)[0] is str:
                return {"type": "object"}
            return {"type": "array", "items": _type_schema(inner, defs)}
        return {"type": "array", "prefixItems": [_type_schema(a, defs) for a in args],
                "minItems": len(args), "maxItems": len(args)}
    if origin is dict or tp is dict:
        return {"type": "object"}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if tp in simple:
        return {"type": simple[tp]} if tp is not float else {"type": "number"}
    return {}


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
