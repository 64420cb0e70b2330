"""docs/serving.md, the `POST /v1/predict` contract: its examples are generated from the current
example specs (not stale), every documented request goes through the predictor's own validation
and routing with the documented outcome (the valid ones validate and route to the documented
model, shard and experiments; the invalid ones give exactly the documented 400), and the limits
it states are the code's."""

from __future__ import annotations

import re

import pytest

from conftest import REPO

DOC = REPO / "docs" / "serving.md"


@pytest.fixture(scope="module")
def text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_the_examples_are_generated_from_the_current_specs(text):
    from mlc.app.request_examples import render_examples, replace_block

    assert replace_block(text, render_examples()) == text, \
        "docs/serving.md is stale: python -m mlc.app.request_examples --write docs/serving.md"


def test_every_documented_request_is_what_the_predictor_makes_of_it(text):
    from mlc.compiler.pipeline import build
    from mlc.runtime.serving.errors import RequestError
    from mlc.app.request_examples import EXAMPLES, decide, documented_exchanges, predictor_for

    exchanges = documented_exchanges(text)
    assert len(exchanges) == 4 * len(EXAMPLES)
    for example, start in zip(EXAMPLES, range(0, len(exchanges), 4)):
        (post, request), (ok, answer), (post_bad, bad), (status, error) = exchanges[start:start + 4]
        assert post == post_bad == "POST /v1/predict" and ok == "HTTP/1.1 200 OK"
        predictor = predictor_for(build(str(REPO / example.spec)).ir)
        assert len(request["items"]) >= 2 and request["context"]
        decided = decide(predictor, request)                     # raises for an invalid request
        assert decided == {"model": answer["model"], "shard": answer["shard"],
                           "experiments": answer.get("experiments", [])}, example.spec
        assert len(answer["scores"]) == len(request["items"])
        with pytest.raises(RequestError) as refused:
            predictor.validate(bad)
        assert status == f"HTTP/1.1 {refused.value.status} Bad Request" and refused.value.to_json() == error
        required = {i.name for i in build(str(REPO / example.spec)).ir.inputs if i.required}
        assert len(error["fields"]) >= 2 + bool(required & set(request["context"]))


def test_the_documented_limits_are_the_codes(text):
    from mlc.runtime.serving import validation
    from mlc.runtime.serving.http_server import MAX_BODY_BYTES

    limits = text[text.index("## Limits"):text.index("## Examples")]
    assert re.search(rf"\| items per request \| {validation.MAX_ITEMS} \|", limits)
    assert f"| {validation.MAX_FIELD_BYTES} (64 KiB) |" in limits and validation.MAX_FIELD_BYTES == 64 * 1024
    assert "| body size | 16 MiB |" in limits and MAX_BODY_BYTES == 16 * 2 ** 20
    assert f"at most {validation.MAX_FIELD_ERRORS}, then a `\"...\"` entry" in text
    request_table = text[text.index("## Request"):text.index("## Response")]
    for key in validation.REQUEST_KEYS:
        assert f"| `{key}` |" in request_table


def test_the_readme_links_the_serving_doc():
    assert "[docs/serving.md](docs/serving.md)" in (REPO / "README.md").read_text(encoding="utf-8")
