"""YAML loading with positions: spans of keys/values, E1001-E1005, YAML 1.2 scalars, scalar_span."""

from __future__ import annotations

import math

import pytest

from mlc.schemas.yamlpos import LMap, LScalar, LSeq, find, load_yaml, scalar_span, to_plain


def load(text: str):
    return load_yaml(text, "f.yaml")


def only(result, code: str):
    assert [d.code for d in result.diagnostics] == [code], result.diagnostics
    return result.diagnostics[0]


def where(diag):
    return (diag.span.file, diag.span.start.line, diag.span.start.col, diag.span.end.line, diag.span.end.col)


# ------------------------------------------------------------------ positions


def test_key_and_value_positions():
    text = "top:\n  key: value\n  list:\n    - 1\n    - two\n"
    result = load(text)
    assert result.diagnostics == []
    top = result.root.entries["top"][1]
    assert isinstance(top, LMap)
    key, value = top.entries["key"]
    assert (key.start.line, key.start.col, key.end.col) == (2, 3, 6)
    assert (value.start.line, value.start.col, value.end.col) == (2, 8, 13)
    assert value.value == "value" and value.source == "value" and value.style is None
    assert text[value.start.offset:value.end.offset] == "value"
    lkey, seq = top.entries["list"]
    assert isinstance(seq, LSeq)
    assert (lkey.start.line, lkey.start.col) == (3, 3)
    assert (seq.items[1].start.line, seq.items[1].start.col, seq.items[1].value) == (5, 7, "two")
    assert seq.items[0].value == 1


def test_find_returns_key_and_value_and_deepest_ancestor():
    result = load("a:\n  b: [x, y]\n")
    key, node = find(result.root, ("a", "b", 1))
    assert key.value == "b" and node.value == "y" and (node.start.line, node.start.col) == (2, 10)
    key, node = find(result.root, ("a", "missing", "deeper"))
    assert key.value == "a" and isinstance(node, LMap)


def test_empty_document_is_an_empty_mapping():
    result = load("")
    assert result.diagnostics == [] and isinstance(result.root, LMap) and result.root.entries == {}


def test_flow_style_positions():
    result = load("m: {a: 1, bb: [x, 'y']}\n")
    m = result.root.entries["m"][1]
    key, seq = m.entries["bb"]
    assert (key.start.col, key.end.col) == (11, 13)
    assert (seq.items[1].start.col, seq.items[1].end.col, seq.items[1].style) == (19, 22, "'")


# ------------------------------------------------------------ duplicate keys


def test_duplicate_top_level_key_points_at_second_and_names_first():
    result = load("a: 1\nb: 2\na: 3\n")
    diag = only(result, "E1002")
    assert diag.message == "duplicate key `a`"
    assert where(diag) == ("f.yaml", 3, 1, 3, 2)
    assert diag.hint == "`a` is already defined at line 1, column 1; YAML would silently keep only the last one"
    assert to_plain(result.root) == {"a": 1, "b": 2}  # the first one is kept


def test_duplicate_nested_key():
    result = load("a:\n  b: 1\n  c: 2\n  b: 3\n")
    diag = only(result, "E1002")
    assert where(diag)[:3] == ("f.yaml", 4, 3)
    assert "line 2, column 3" in diag.hint


def test_duplicate_key_in_flow_mapping():
    result = load("m: {x: 1, y: 2, x: 3}\n")
    diag = only(result, "E1002")
    assert where(diag)[1:3] == (1, 17)
    assert "line 1, column 5" in diag.hint


# ------------------------------------------------------------- syntax errors


def test_unclosed_flow_sequence():
    result = load("a: [1, 2\n")
    assert result.root is None
    diag = only(result, "E1001")
    assert diag.message.startswith("invalid YAML: expected ',' or ']'")
    assert "while parsing a flow sequence" in diag.message
    assert where(diag) == ("f.yaml", 2, 1, 2, 2)


def test_colon_in_plain_value():
    diag = only(load("name: demo\na: b: c\n"), "E1001")
    assert diag.message == "invalid YAML: mapping values are not allowed here"
    assert where(diag)[1:3] == (2, 5)
    assert diag.hint == 'a value containing `: ` must be quoted, e.g. "a: b"'


def test_bad_indentation_hint():
    diag = only(load("a:\n  b: 1\n c: 2\n"), "E1001")
    assert where(diag)[1:3] == (3, 2)
    assert diag.message == ("invalid YAML: expected <block end>, but found '<block mapping start>' "
                            "(while parsing a block mapping)")


def test_missing_colon_hint():
    diag = only(load("a:\n  b: 1\n  c\n  d: 2\n"), "E1001")
    assert "could not find expected ':'" in diag.message
    assert where(diag)[1] == 4
    assert diag.hint == "check the indentation and that every key ends with `:`"


def test_unterminated_quote():
    diag = only(load("key: 'unterminated\n"), "E1001")
    assert "while scanning a quoted scalar" in diag.message
    assert where(diag)[1:3] == (2, 1)


def test_tab_indentation_position():
    diag = only(load("a:\n\tb: 1\n"), "E1001")
    assert where(diag)[1:3] == (2, 1)


def test_tab_indentation_has_hint():
    # BUG: the "tab" hint in _syntax_diagnostic never fires: PyYAML says
    # "found character '\t' that cannot start any token" (no word "tab").
    diag = only(load("a:\n\tb: 1\n"), "E1001")
    assert diag.hint == "YAML indentation must use spaces, not tabs"


def test_two_documents_are_rejected():
    diag = only(load("a: 1\n---\nb: 2\n"), "E1001")
    assert "expected a single document" in diag.message
    assert where(diag)[1:3] == (2, 1)


# -------------------------------------------------------- YAML 1.2 scalars


@pytest.mark.parametrize("text, expected", [
    ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"), ("Y", "Y"),
    ("true", True), ("False", False), ("0x10", 16), ("012", 12), ("-7", -7), ("+3", 3),
    ("1.5", 1.5), ("~", None), ("null", None), ("", None), ("1_000", "1_000"),
    ("2024-01-01", "2024-01-01"), ("'1'", "1"), ('"true"', "true"), ("!!str 1", "1"),
    ("'~'", "~"), ("-.inf", -math.inf), (".inf", math.inf), (".Inf", math.inf),
])
def test_yaml12_core_scalars(text, expected):
    result = load(f"v: {text}\n")
    assert result.diagnostics == []
    value = to_plain(result.root)["v"]
    assert value == expected and type(value) is type(expected)


def test_nan():
    value = to_plain(load("v: .nan\n").root)["v"]
    assert isinstance(value, float) and math.isnan(value)


@pytest.mark.parametrize("text, expected", [("0o17", 15), ("1e3", 1000.0), ("-2E-2", -0.02)])
def test_yaml12_scalars_that_yaml11_calls_strings(text, expected):
    # BUG: PyYAML's (1.1) resolver tags these as str, and resolve_scalar returns str-tagged
    # plain scalars untouched, so the YAML 1.2 octal / exponent rules never apply.
    value = to_plain(load(f"v: {text}\n").root)["v"]
    assert value == expected and type(value) is type(expected)


def test_integer_keys_become_strings():
    result = load("1: x\n")
    assert result.diagnostics == [] and to_plain(result.root) == {"1": "x"}


# ------------------------------------------------ tags, merge keys, keys


def test_tag_rejected():
    result = load("a: !foo bar\n")
    diag = only(result, "E1004")
    assert diag.message == "YAML tag `!foo` is not supported"
    assert where(diag) == ("f.yaml", 1, 4, 1, 12)
    assert diag.hint == "remove the tag; mlc specs use plain YAML values"


def test_merge_key_rejected():
    result = load("base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n")
    diag = only(result, "E1005")
    assert diag.message == "YAML merge keys (`<<`) are not supported"
    assert where(diag) == ("f.yaml", 3, 3, 3, 5)
    assert "include:" in diag.hint and "environments:" in diag.hint
    assert to_plain(result.root)["c"] == {"y": 2}


def test_complex_key_rejected():
    diag = only(load("? [1, 2]\n: x\n"), "E1003")
    assert diag.message == "mapping keys must be plain strings"
    assert where(diag)[1:3] == (1, 3)


def test_deep_nesting_reported_not_raised():
    text = "a: " + "[" * 150 + "]" * 150 + "\n"
    result = load(text)
    assert [d.code for d in result.diagnostics] == ["E1005"]
    assert "too deep" in result.diagnostics[0].message


# ------------------------------------------------------------- scalar_span


def span_of(text: str, key: str, start: int, end: int, expect: str):
    node = find(load(text).root, (key,))[1]
    assert isinstance(node, LScalar)
    assert node.value[start:end] == expect
    span = scalar_span(node, start, end)
    return span


def test_scalar_span_plain():
    text = "x: abc + def\n"
    span = span_of(text, "x", 6, 9, "def")
    assert (span.start.line, span.start.col, span.end.line, span.end.col) == (1, 10, 1, 13)
    assert text[span.start.offset:span.end.offset] == "def"


def test_scalar_span_single_quoted_with_doubled_quote():
    text = "x: 'it''s + bad'\n"
    span = span_of(text, "x", 5, 10, "+ bad")
    assert (span.start.line, span.start.col, span.end.col) == (1, 11, 16)
    assert text[span.start.offset:span.end.offset] == "+ bad"
    quote = span_of(text, "x", 2, 3, "'")
    assert (quote.start.col, quote.end.col) == (7, 8)


def test_scalar_span_double_quoted_with_escapes():
    text = 'x: "a\\tb + \\u00e9 + zz"\n'
    span = span_of(text, "x", 10, 12, "zz")
    assert (span.start.line, span.start.col, span.end.col) == (1, 21, 23)
    assert text[span.start.offset:span.end.offset] == "zz"
    accented = span_of(text, "x", 6, 7, "\u00e9")
    assert accented.start.col == 12  # the backslash of \u00e9
    tab = span_of(text, "x", 1, 2, "\t")
    assert tab.start.col == 6
    b = span_of(text, "x", 2, 3, "b")
    assert (b.start.col, b.end.col) == (8, 9)


def test_scalar_span_literal_block_multiline():
    text = "x: |\n  foo(\n    bar) + baz\n"
    span = span_of(text, "x", 14, 17, "baz")
    assert (span.start.line, span.start.col, span.end.line, span.end.col) == (3, 12, 3, 15)
    assert text[span.start.offset:span.end.offset] == "baz"
    bar = span_of(text, "x", 7, 10, "bar")
    assert (bar.start.line, bar.start.col) == (3, 5)
    foo = span_of(text, "x", 0, 3, "foo")
    assert (foo.start.line, foo.start.col, foo.end.col) == (2, 3, 6)


def test_scalar_span_folded_block_multiline():
    text = "x: >\n  foo +\n  bar\n"
    span = span_of(text, "x", 6, 9, "bar")
    assert (span.start.line, span.start.col, span.end.line, span.end.col) == (3, 3, 3, 6)
    text = "x: >-\n  foo +\n  bar\n"
    span = span_of(text, "x", 6, 9, "bar")
    assert (span.start.line, span.start.col, span.end.col) == (3, 3, 6)


def test_scalar_span_indented_block_strip():
    text = "m:\n  x: |-\n    a\n    bb\n"
    node = find(load(text).root, ("m", "x"))[1]
    span = scalar_span(node, 2, 4)
    assert (span.start.line, span.start.col, span.end.col) == (4, 5, 7)


@pytest.mark.parametrize("text", ["x: abc +\n  def\n", "x: 'abc +\n  def'\n", 'x: "abc +\n  def"\n',
                                  'x: "abc \\\n  def"\n'])
def test_scalar_span_multiline_flow_scalars(text):
    node = find(load(text).root, ("x",))[1]
    start = node.value.index("def")
    span = scalar_span(node, start, start + 3)
    assert (span.start.line, span.start.col, span.end.line, span.end.col) == (2, 3, 2, 6)


def test_scalar_span_clamps_out_of_range():
    node = find(load("x: ab\n").root, ("x",))[1]
    span = scalar_span(node, 5, 9)
    assert (span.start.line, span.start.col) == (1, 5)


@pytest.mark.parametrize("escape", ["\\U00110000", "\\UFFFFFFFF"])
def test_out_of_range_unicode_escape_is_a_diagnostic(escape):
    # BUG: PyYAML raises a plain ValueError ("chr() arg not in range(0x110000)") for these
    # escapes; load_yaml only catches yaml.YAMLError, so `mlc validate` dies with a traceback.
    text = f'a: "x{escape}"\n'
    result = load(text)
    diag = only(result, "E1001")
    assert where(diag)[1] == 1


# ------------------------------------------------- hostile input (hardening)


def load_isolated(make_text: str, timeout: float = 120) -> list:
    """load_yaml (and to_plain) on ``eval(make_text)`` in a fresh interpreter: a hang or a
    crash fails the test instead of the test run; returns the diagnostics as lists."""
    import json
    import subprocess
    import sys

    code = (
        "import json\n"
        "from mlc.schemas.yamlpos import load_yaml, to_plain\n"
        f"text = {make_text}\n"
        "result = load_yaml(text, 'f.yaml')\n"
        "to_plain(result.root)\n"
        "print(json.dumps([[d.code, d.span.start.line, d.span.start.col, d.message] for d in result.diagnostics]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-1500:]
    return json.loads(done.stdout)


NESTING = {
    "flow_seq": ("'a: ' + '[' * {n} + ']' * {n} + '\\n'", (1, 3 + 101)),
    "flow_map": ("'a: ' + '{{b: ' * {n} + '1' + '}}' * {n} + '\\n'", (1, 3 + 4 * 100 + 1)),
    "unclosed_flow": ("'a: ' + '[' * {n}", (1, 3 + 101)),
    "block_seq": ("'a:\\n' + '- ' * {n} + 'x\\n'", (2, 2 * 100 + 1)),
    "block_map": ("'a:\\n' + ''.join(' ' * (i + 1) + 'b:\\n' for i in range(min({n}, 1000)))", (102, 102)),
}


@pytest.mark.parametrize("n", [1000, 10_000, 100_000])
@pytest.mark.parametrize("kind", sorted(NESTING))
def test_deep_nesting_is_a_located_error(kind, n):
    # BUG: 1,000+ levels raised RecursionError inside yaml.compose (a traceback), before the
    # depth check of the builder; flow nesting also made PyYAML's scanner quadratic
    make, where = NESTING[kind]
    [(code, line, col, message)] = load_isolated(make.format(n=n))
    assert (code, message) == ("E1005", "YAML nesting is too deep (more than 100 levels)")
    assert (line, col) == where


def test_nesting_of_100_levels_is_fine():
    result = load("a: " + "[" * 100 + "]" * 100 + "\n")
    assert result.diagnostics == []
    result = load("a:\n" + "".join(" " * (i + 1) + "b:\n" for i in range(99)))
    assert result.diagnostics == []
    result = load("a:\n" + "".join(" " * (i + 1) + "b:\n" for i in range(100)))
    assert [(d.code, d.span.start.line) for d in result.diagnostics] == [("E1005", 101)]  # the null of the last `b:`


BILLION_LAUGHS = (
    "'a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\\n'"
    " + ''.join(f'{c}: &{c} [' + ','.join([f'*{p}'] * 9) + ']\\n' for p, c in zip('abcdefgh', 'bcdefghi'))"
    " + 'all: *i\\n'"
)


def test_alias_bomb_is_refused_at_the_alias():
    # BUG: "billion laughs" (9 levels of 9 aliases: 10^9 values) hung in _Builder.build / to_plain
    diagnostics = load_isolated(BILLION_LAUGHS)
    assert [d[0] for d in diagnostics] == ["E1007"]
    [(_, line, col, message)] = diagnostics
    assert message == "YAML aliases expand to more than 100,000 values"
    assert (line, col) == (6, 8)  # the first `*e` of `f`, where the expansion goes over the budget


@pytest.mark.parametrize("text, where", [("a: &a [*a]\n", (1, 8)), ("a: &a {x: 1, y: *a}\n", (1, 17))])
def test_recursive_alias_is_refused(text, where):
    diagnostics = load_isolated(repr(text), timeout=60)
    assert [(d[0], d[1], d[2]) for d in diagnostics] == [("E1007", *where)]


def test_plain_aliases_still_copy_values():
    result = load("base: &b {x: 1, y: [2, 3]}\nc: *b\nd: [*b]\nk: &k key\n*k : 4\n")
    assert result.diagnostics == []
    assert to_plain(result.root) == {"base": {"x": 1, "y": [2, 3]}, "c": {"x": 1, "y": [2, 3]},
                                     "d": [{"x": 1, "y": [2, 3]}], "k": "key", "key": 4}
    c = result.root.entries["c"][1]
    assert c is not result.root.entries["base"][1]  # a copy: nothing downstream shares nodes


@pytest.mark.parametrize("tagged, shown", [
    ("!!python/object/apply:os.system [echo hi]", "!!python/object/apply:os.system"),
    ("!!python/name:os.system ''", "!!python/name:os.system"),
    ("!!python/object:builtins.dict {}", "!!python/object:builtins.dict"),
    ("!!binary aGk=", "!!binary"),
    ("!!set {a: null}", "!!set"),
    ("!<tag:example.com,2000:x> 1", "tag:example.com,2000:x"),
])
def test_every_tag_outside_the_plain_set_is_refused(tagged, shown):
    # BUG: only tags starting with "!" were refused; `!!python/...` resolves to
    # tag:yaml.org,2002:python/... and was accepted silently
    diag = only(load(f"v: {tagged}\n"), "E1004")
    assert diag.message == f"YAML tag `{shown}` is not supported"
    assert where(diag)[1:3] == (1, 4)
    assert diag.hint == "remove the tag; mlc specs use plain YAML values"


def test_tag_on_a_key_is_refused():
    diag = only(load("!!python/name:os.system : 1\n"), "E1004")
    assert where(diag)[1:3] == (1, 1)


def test_plain_tags_and_a_merge_looking_value_stay_accepted():
    result = load("a: !!str 12\nb: !!int 3\nc: <<\nd: !!map {x: 1}\n")
    assert result.diagnostics == []
    assert to_plain(result.root) == {"a": "12", "b": 3, "c": "<<", "d": {"x": 1}}


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x07"])
def test_control_character_in_the_text_is_located(char):
    # BUG: PyYAML's ReaderError was reported at 1:1 with "<unicode string>, position N"
    diag = only(load(f"a: 1\nb: x{char}y\n"), "E1001")
    assert where(diag)[1:3] == (2, 5)
    assert diag.message == f"invalid YAML: the text contains the non-printable character U+{ord(char):04X}"
    assert diag.hint.startswith("remove it")


@pytest.mark.parametrize("sign", ["", "+", "-"])
def test_integer_beyond_pythons_conversion_limit_keeps_its_size_not_a_crash(sign):
    # BUG: int() refuses more than 4300 digits with a ValueError: a traceback from load_yaml
    result = load(f"v: {sign}00{'9' * 5000}\n")
    assert result.diagnostics == []
    value = to_plain(result.root)["v"]
    assert value == (-1 if sign == "-" else 1) * 10 ** 4999
