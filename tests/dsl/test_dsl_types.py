import pytest

from mlc.dsl import BOOL, FLOAT64, INT64, NULL, STRING, TIMESTAMP, DType, list_of, parse_dtype
from mlc.dsl.types import arithmetic_result, comparable, unify


@pytest.mark.parametrize(
    "text", ["bool", "int64", "float64", "string", "timestamp", "list<int64>", "list<list<string>>"]
)
def test_parse_and_print_round_trip(text):
    assert str(parse_dtype(text)) == text


def test_parse_dtype_rejects_unknown_names():
    with pytest.raises(ValueError):
        parse_dtype("int32")


def test_dtypes_are_hashable_values():
    assert {parse_dtype("list<int64>"), list_of(INT64)} == {DType("list", INT64)}


def test_promotion_rules():
    assert arithmetic_result("+", INT64, INT64) == INT64
    assert arithmetic_result("%", INT64, FLOAT64) == FLOAT64
    assert arithmetic_result("/", INT64, INT64) == FLOAT64
    assert arithmetic_result("+", STRING, INT64) is None
    assert unify(NULL, STRING) == STRING and unify(INT64, FLOAT64) == FLOAT64 and unify(BOOL, INT64) is None
    assert comparable(INT64, FLOAT64, ordered=True) and comparable(BOOL, BOOL, ordered=False)
    assert not comparable(BOOL, BOOL, ordered=True) and not comparable(STRING, TIMESTAMP, ordered=False)
