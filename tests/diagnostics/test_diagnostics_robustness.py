"""`mlc validate` on hostile input: exit 1 with diagnostics, never a traceback, in every format."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _run_mlc():
    module = sys.modules.get("conftest")
    if module is None or not hasattr(module, "run_mlc"):
        import importlib.util

        spec = importlib.util.spec_from_file_location("_mlc_tests_conftest", HERE.parent / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module.run_mlc


run_mlc = _run_mlc()


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
@pytest.mark.parametrize("text", [
    'version: 1\nname: "a\\ud800"\n',       # BUG: lone surrogate -> UnicodeEncodeError in --format github
    'version: 1\nname: "a\\U00110000"\n',   # BUG: ValueError from PyYAML escapes load_yaml
], ids=["lone_surrogate", "out_of_range_escape"])
def test_bad_unicode_escapes(tmp_path, text, fmt):
    (tmp_path / "s.mlc.yaml").write_text(text, encoding="utf-8")
    result = run_mlc("validate", "s.mlc.yaml", "--format", fmt, cwd=tmp_path)
    assert "Traceback" not in result.stderr, result.stderr[-600:]
    assert result.returncode == 1
    out = result.stderr if fmt == "text" else result.stdout
    assert "s.mlc.yaml" in out


# ----------------------------------------- control characters and long lines


RAW_CONTROLS = ["\x1b", "\x07", "\x9b", "\u202e", "\u2066", "\u2028", "\ud800"]


def caret_under(block: list[str], expected: str) -> None:
    """The caret line (``     | ^^^``) marks exactly ``expected`` in the echoed line above it."""
    source, carets = block
    start = carets.index("^")
    assert source[start:start + carets.count("^")] == expected, (source, carets)


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_control_characters_are_never_echoed(tmp_path, fmt):
    # BUG: ESC, BEL, bidi overrides ... from the spec reached the terminal / CI log unescaped:
    # a spec could forge diagnostic lines or terminal escapes
    text = ('version: 1\nname: demo\n'
            '"k\\e]0;pwned\\a\\r\\u202e\\x9b": 1\n'     # controls in a value (YAML escapes)
            'x\u202ey\u2066: 1 # \u202e\n')              # raw bidi characters in the source line
    (tmp_path / "s.mlc.yaml").write_text(text, encoding="utf-8")
    result = run_mlc("validate", "s.mlc.yaml", "--format", fmt, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-600:]
    out = result.stderr if fmt == "text" else result.stdout
    for char in RAW_CONTROLS + ["\r", "\0"]:
        assert char not in out, (char, out)
    if fmt == "json":
        import json

        messages = [d["message"] for d in json.loads(out)["diagnostics"]]
        assert "unknown key `k\x1b]0;pwned\x07\r\u202e\x9b` in the spec" in messages  # escaped by JSON, intact
        return
    assert "unknown key `k\\x1b]0;pwned\\x07\\r\\u202e\\x9b` in the spec" in out
    assert "unknown key `x\\u202ey\\u2066` in the spec" in out
    if fmt == "text":
        lines = out.splitlines()
        at = lines.index("   4 | x\\u202ey\\u2066: 1 # \\u202e")
        caret_under(lines[at:at + 2], "x\\u202ey\\u2066")


def test_render_text_escapes_message_hint_notes_file_and_source():
    from mlc.core.diagnostics import Diagnostic, Position, SourceMap, Span, render_text

    sources = SourceMap()
    sources.add("f\x1b.yaml", "a: 1\nb: \x1b[31mred\x07\n")
    diag = Diagnostic("E9999", "bad `\x1b[2J`", Span("f\x1b.yaml", Position(2, 4, 8), Position(2, 13, 17)),
                      hint="h\x07\nf.yaml:1:1: error[E0000]: forged", notes=("n\u202e",))
    out = render_text([diag], sources)
    assert out.splitlines() == [
        "f\\x1b.yaml:2:4: error[E9999]: bad `\\x1b[2J`",
        "   2 | b: \\x1b[31mred\\x07",
        "     |    ^^^^^^^^^^^^^^^",
        "  = note: n\\u202e",
        "  help: h\\x07\\nf.yaml:1:1: error[E0000]: forged",
    ]
    caret_under(out.splitlines()[1:3], "\\x1b[31mred\\x07")


def test_crlf_and_lone_cr_lines_are_echoed_by_lf_lines():
    # positions count LF-separated lines; a CRLF ending is not shown, a lone CR is escaped
    from mlc.core.diagnostics import Diagnostic, Position, SourceMap, Span, render_text

    sources = SourceMap()
    sources.add("f.yaml", "a: 1\r\nb: x\ry\r\nc: 3\r\n")
    diag = Diagnostic("E9999", "m", Span("f.yaml", Position(3, 1, 0), Position(3, 2, 0)))
    assert render_text([diag], sources).splitlines()[1] == "   3 | c: 3"
    diag = Diagnostic("E9999", "m", Span("f.yaml", Position(2, 6, 0), Position(2, 7, 0)))
    lines = render_text([diag], sources).splitlines()
    assert lines[1] == "   2 | b: x\\ry"
    caret_under(lines[1:3], "y")


def test_long_source_line_is_cut_around_the_span():
    from mlc.core.diagnostics import MAX_SOURCE_WIDTH, Diagnostic, Position, SourceMap, Span, render_text

    line = "k: " + "a" * 3000 + "BAD" + "\x1b" * 50 + "z" * 3000
    sources = SourceMap()
    sources.add("f.yaml", line + "\n")
    col = line.index("BAD") + 1
    diag = Diagnostic("E9999", "m", Span("f.yaml", Position(1, col, col - 1), Position(1, col + 3, col + 2)))
    _, shown, carets = render_text([diag], sources).splitlines()[:3]
    assert shown.startswith("   1 | …a") and shown.endswith("…")
    assert len(shown) <= len("   1 | ") + MAX_SOURCE_WIDTH + 2
    assert "\x1b" not in shown and "\\x1b" in shown
    caret_under([shown, carets], "BAD")
    # a span at the very end of a long line, and one at its start
    end = len(line) + 1
    diag = Diagnostic("E9999", "m", Span("f.yaml", Position(1, end, end - 1), Position(1, end + 1, end)))
    _, shown, carets = render_text([diag], sources).splitlines()[:3]
    assert shown.startswith("   1 | …z") and carets.endswith("^") and len(carets) == len(shown) + 1
    diag = Diagnostic("E9999", "m", Span("f.yaml", Position(1, 1, 0), Position(1, 2, 1)))
    _, shown, carets = render_text([diag], sources).splitlines()[:3]
    assert shown.startswith("   1 | k: aaa") and shown.endswith("a…")
    caret_under([shown, carets], "k")


def test_long_quoted_value_in_a_message_is_shortened(tmp_path):
    key = "k" * 100 + "MIDDLE" + "q" * 5000 + "END"
    (tmp_path / "s.mlc.yaml").write_text(f"version: 1\nname: demo\n? {key}\n: 1\n", encoding="utf-8")
    result = run_mlc("validate", "s.mlc.yaml", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    first, shown = result.stderr.splitlines()[:2]
    assert first.startswith("s.mlc.yaml:3:3: error[E2002]: unknown key `kkkk") and "qqqEND` in the spec" in first
    assert "MIDDLE" not in first and len(first) < 200
    assert len(shown) < 300 and shown.endswith("…")


def test_many_diagnostics_are_collected_and_rendered_in_linear_time():
    # BUG: DiagnosticBag.add scanned the list for duplicates (quadratic: 30,000 tag errors in
    # a hostile spec took many minutes), and every rendered diagnostic split the whole file
    import subprocess
    import sys

    code = (
        "from mlc.core.diagnostics import DiagnosticBag, SourceMap, render_text\n"
        "from mlc.schemas.yamlpos import load_yaml\n"
        "text = 'a: [' + ', '.join(['!x 1'] * 30000) + ']\\n'\n"
        "result = load_yaml(text, 'f.yaml')\n"
        "bag = DiagnosticBag()\n"
        "bag.extend(result.diagnostics + result.diagnostics)\n"
        "sources = SourceMap()\n"
        "sources.add('f.yaml', text)\n"
        "out = render_text(bag.sorted(), sources, limit=len(bag))\n"
        "print(len(bag), out.count('error[E1004]'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.split() == ["30000", "30000"]


LAUGHS = "".join(f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, c in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("body, code, where", [
    ("description: " + "[" * 100_000 + "]" * 100_000 + "\n", "E1005", "3:114"),
    ("description:\n" + "- " * 100_000 + "x\n", "E1005", "4:201"),
    ('x: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + LAUGHS + "description: *i\n",
     "E1007", "8:8"),
    ("description: !!python/object/apply:os.system [echo pwned]\n", "E1004", "3:14"),
], ids=["flow_nesting", "block_nesting", "billion_laughs", "python_tag"])
def test_hostile_yaml_through_the_cli(tmp_path, fmt, body, code, where):
    (tmp_path / "s.mlc.yaml").write_text("version: 1\nname: demo\n" + body, encoding="utf-8")
    result = run_mlc("validate", "s.mlc.yaml", "--format", fmt, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-600:]
    if fmt == "json":
        import json

        [diag] = json.loads(result.stdout)["diagnostics"]
        assert (diag["code"], f"{diag['line']}:{diag['col']}") == (code, where)
        return
    first, shown, carets = result.stderr.splitlines()[:3]
    assert first.startswith(f"s.mlc.yaml:{where}: error[{code}]")
    assert len(shown) < 260 and len(carets) < 260


def test_text_output_is_capped_and_says_how_many_more():
    from mlc.core.diagnostics import TEXT_LIMIT, Diagnostic, Severity, SourceMap, Span, render_text

    warnings = [Diagnostic("W5103", f"warning {i}", Span.point("s.yaml", 1, 1), Severity.WARNING) for i in range(5)]
    errors = [Diagnostic("E2002", f"error {i}", Span.point("s.yaml", 1, 1)) for i in range(TEXT_LIMIT + 40)]
    text = render_text(warnings + errors, SourceMap())
    assert text.count("error[E2002]") == TEXT_LIMIT and "warning[" not in text     # errors come first
    assert text.endswith(f"... and {45} more (`--format json` lists every one)\n")
    assert "more" not in render_text(errors[:3], SourceMap())
