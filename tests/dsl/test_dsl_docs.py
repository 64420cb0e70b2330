from pathlib import Path

from mlc.dsl import CATALOGUE, FUNCTIONS
from mlc.dsl.docs import render_markdown, render_text

DOCS = Path(__file__).resolve().parents[2] / "docs" / "functions.md"


def test_committed_reference_matches_the_catalogue():
    assert DOCS.read_text(encoding="utf-8") == render_markdown()


def test_reference_ends_with_exactly_one_newline():
    text = render_markdown()
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_every_function_is_documented_everywhere():
    markdown, text = render_markdown(), render_text()
    for function in FUNCTIONS:
        assert f"`{function.name}`" in markdown
        assert function.signature() in text
        assert function.doc and function.nulls and function.example


def test_every_example_typechecks_in_its_context():
    from mlc.dsl import BOOL, FLOAT64, INT64, STRING, TIMESTAMP, check_text

    class AnyName:
        """Every name exists; its type is guessed from the name, like a loose test double."""

        def lookup(self, parts):
            name = parts[-1]
            if "time" in name or name.endswith("_at"):
                return TIMESTAMP if name != "created_at" else STRING
            if name.startswith("is_"):
                return BOOL
            if name in ("city", "status", "merchant_id", "query", "postcode", "email", "country_code",
                        "merchant_category", "user_id"):
                return STRING
            if name in ("quantity", "city_id"):
                return INT64
            return FLOAT64

        def candidates(self):
            return []

    contexts = {"scalar": "derived", "analyzer": "derived", "aggregate": "aggregation"}
    for function in FUNCTIONS:
        _, issues = check_text(function.example, AnyName(), contexts[function.kind])
        assert issues == [], (function.name, issues)


def test_min_and_max_are_aggregates_and_least_greatest_scalars():
    assert CATALOGUE["min"].kind == CATALOGUE["max"].kind == "aggregate"
    assert CATALOGUE["least"].kind == CATALOGUE["greatest"].kind == "scalar"
