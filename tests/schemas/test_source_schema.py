"""The schema of sources as public datasets come: optional event time, columns as a dtype or
{dtype, format, from}, null values, validation kinds -- valid forms, and located E2xxx errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from specs import MINIMAL_SPEC

from mlc.schemas.validate import validate_spec
from mlc.schemas.yamlpos import load_yaml

REPO = Path(__file__).resolve().parents[2]
COLUMNS = "    columns: {ts: timestamp, rider_id: int64, eta: float64, distance_km: float64, city: string, status: string}\n"
TRAINING = "    training: {source: orders, epochs: 2}"


def validate(text: str):
    loaded = load_yaml(text, "s.yaml")
    assert loaded.diagnostics == []
    return validate_spec(loaded.root)


def errors(text: str) -> list[tuple]:
    spec, diagnostics = validate(text)
    assert spec is None and diagnostics
    return [(d.code, d.span.start.line, d.span.start.col, d.message, d.hint) for d in diagnostics]


def spec_with(*pairs: tuple[str, str]) -> str:
    text = MINIMAL_SPEC
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def position(text: str, needle: str) -> tuple[int, int]:
    offset = text.index(needle)
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def test_columns_as_objects_null_values_and_no_event_time():
    text = spec_with(("    event_time: ts\n", "    null_values: ['', NA]\n"),
                     (COLUMNS, "    columns:\n      ts: {dtype: timestamp, format: yyMMddHH, from: HOUR}\n"
                               "      rider_id: int64\n      city: {dtype: string, from: device-ip, description: x}\n"))
    spec, diagnostics = validate(text)
    assert diagnostics == []
    source = spec.sources["orders"]
    assert source.event_time is None and source.null_values == ["", "NA"]
    assert source.column_dtypes() == {"ts": "timestamp", "rider_id": "int64", "city": "string"}
    assert (source.column("ts").format, source.column("ts").from_) == ("yyMMddHH", "HOUR")
    assert source.column("city").from_ == "device-ip" and source.column("rider_id").from_ is None


def test_null_values_default_by_kind():
    spec, _ = validate(MINIMAL_SPEC)
    assert spec.sources["orders"].null_values == [""]
    text = spec_with(("    kind: csv\n    path: data/orders.csv\n", "    kind: json\n    path: data/orders.jsonl\n"))
    spec, _ = validate(text)
    assert spec.sources["orders"].null_values == []


@pytest.mark.parametrize("validation, kind", [
    ("{split_at: '2024-06-01T00:00:00Z'}", "time"), ("{last_fraction: 0.1}", "time"),
    ("{kind: order, last_fraction: 0.1}", "order"), ("{kind: random, fraction: 0.2, seed: 7}", "random"),
    ("{kind: random, fraction: 0.2}", "random"), ("{kind: hash, fraction: 0.2, key: city}", "hash"),
])
def test_validation_kinds(validation, kind):
    spec, diagnostics = validate(spec_with((TRAINING, TRAINING[:-1] + f", validation: {validation}}}")))
    assert diagnostics == []
    assert spec.models["eta"].training.validation.kind == kind


def test_unknown_validation_kind_is_located_with_did_you_mean():
    text = spec_with((TRAINING, TRAINING[:-1] + ", validation: {kind: randm, fraction: 0.2}}"))
    [(code, line, col, message, hint)] = errors(text)
    assert (code, message, hint) == ("E2005", "unknown kind `randm` for `models.eta.training.validation`",
                                     "did you mean `random`?")
    assert (line, col) == position(text, "randm")


@pytest.mark.parametrize("validation, expected", [
    ("{kind: random, fraction: 1.5}", ("E2007", "`models.eta.training.validation.fraction` must be less than 1, "
                                                "got number `1.5`", None)),
    ("{kind: hash, fraction: 0.2}", ("E2003", "missing required key `key` in `models.eta.training.validation`",
                                     "add `key:`")),
    ("{kind: order, fraction: 0.2}", ("E2003", "missing required key `last_fraction` in "
                                               "`models.eta.training.validation`", "add `last_fraction:`")),
    ("{kind: random, fraction: 0.2, seed: -1}", ("E2007", "`models.eta.training.validation.seed` must be at least 0, "
                                                          "got integer `-1`", None)),
    ("{kind: hash, fraction: 0.2, key: city, sed: 1}", ("E2002", "unknown key `sed` in "
                                                                 "`models.eta.training.validation`", "valid keys: "
                                                        "`fraction`, `key`, `kind`")),
])
def test_validation_errors_name_the_branch_fields(validation, expected):
    text = spec_with((TRAINING, TRAINING[:-1] + f", validation: {validation}}}"))
    found = [(code, message, hint) for code, _, _, message, hint in errors(text)]
    assert expected in found, found


def test_column_object_errors():
    text = spec_with((COLUMNS, "    columns: {ts: timestamp, rider_id: {dtype: int64, frm: RIDER}, city: {from: C}}\n"))
    found = [(code, message, hint) for code, _, _, message, hint in errors(text)]
    assert ("E2002", "unknown key `frm` in `sources.orders.columns.rider_id`", "did you mean `from`?") in found
    assert ("E2003", "missing required key `dtype` in `sources.orders.columns.city`", "add `dtype:`") in found
    text = spec_with((COLUMNS, "    columns: {ts: timestamp, city: {dtype: string, from: ''}}\n"))
    assert [c for c, *_ in errors(text)] == ["E2007"]


def test_null_values_must_be_a_list_of_one_line_texts():
    text = spec_with(("    event_time: ts\n", "    event_time: ts\n    null_values: NA\n"))
    assert [(c, m) for c, _, _, m, _ in errors(text)] == [("E2004", "`sources.orders.null_values` must be a list, "
                                                                    "got string `NA`")]
    text = spec_with(("    event_time: ts\n", "    event_time: ts\n    null_values: [\"a\\nb\"]\n"))
    assert [c for c, *_ in errors(text)] == ["E2008"]


def test_json_schema_offers_the_new_forms():
    schema = json.loads((REPO / "schemas" / "mlc.schema.json").read_text(encoding="utf-8"))
    column = schema["$defs"]["SourceColumn"]["properties"]
    assert set(column) == {"dtype", "format", "from", "description"}
    assert "event_time" not in schema["$defs"]["CsvSource"].get("required", [])
    assert schema["$defs"]["CsvSource"]["properties"]["null_values"]["default"] == [""]
    kinds = {d: schema["$defs"][d]["properties"]["kind"].get("const") for d in
             ("TimeValidation", "OrderValidation", "RandomValidation", "HashValidation")}
    assert kinds == {"TimeValidation": "time", "OrderValidation": "order", "RandomValidation": "random",
                     "HashValidation": "hash"}
