"""The three renderers of a review (text, Markdown, JSON) and the CI examples (docs/review.md,
Output and In CI). Reviews are built by hand, so these tests need no spec and no git."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from markdown_it import MarkdownIt

from conftest import REPO
from mlc.review.lineage import Graph, Node
from mlc.review.model import (ADD, CHANGE, DANGEROUS, ERROR, INFO, REMOVE, ArtifactChange, Change,
                              Impact, Plan, Problem, Review)
from mlc.review.render_json import render_json
from mlc.review.render_markdown import GITHUB_COMMENT_LIMIT, MIN_LIMIT, render_markdown
from mlc.review.render_text import printable, render_text

MD = MarkdownIt("commonmark").enable("table")
ALLOWED_TAGS = {"details", "summary", "sub"}
HOSTILE = ("a|b `c` ```d``` </details> <script>alert(1)</script>\nnext line & *em* _u_ "
           "[link](http://x) $x$ ~~s~~ \\ <!-- c --> <img src=x onerror=alert(1)>")
CUT_LINE = ("Some details were cut to fit GitHub's 65,536-character comment limit; "
            "run mlc diff locally for the full output.")


# --- reviews ----------------------------------------------------------------------------------

def _graph() -> Graph:
    """source -> group -> model -> shard, and a model nothing changed."""
    names = [("source", "events"), ("group", "user_activity"), ("model", "ctr"), ("shard", "north"),
             ("model", "other")]
    nodes = {f"{k}:{n}": Node(f"{k}:{n}", k, n) for k, n in names}
    edges = {("source:events", "group:user_activity"), ("group:user_activity", "model:ctr"),
             ("model:ctr", "shard:north")}
    return Graph(nodes, edges)


def full_review(label: str = "specs/ctr.mlc.yaml") -> Review:
    """Changes of each op in two sections, impacts of each level, artifacts, a graph."""
    return Review(
        base_label=f"origin/main:{label}", head_label=label,
        changes=[
            Change(CHANGE, "models", "ctr", ("training", "epochs"), 3, 5),
            Change(ADD, "models", "ctr_v2", (), None, {"type": "dnn", "layers": [64, 32]}),
            Change(REMOVE, "feature_groups", "old_clicks", (), {"source": "events"}, None),
            Change(CHANGE, "feature_groups", "user_activity", ("windows",), ["1d"], ["1d", "7d"]),
        ],
        impacts=[
            Impact("retrain", INFO, ("ctr@north", "ctr@east"), "training.epochs changed"),
            Impact("backfill", INFO, ("user_activity",), "windows changed"),
            Impact("traffic", DANGEROUS, ("homepage",), "the salt changed: units move", "W5104"),
        ],
        artifacts=[
            ArtifactChange(CHANGE, "training/ctr/train.py", "a" * 64, "b" * 64, 3, 1),
            ArtifactChange(ADD, "training/ctr_v2/train.py", None, "c" * 64, 40, 0),
            ArtifactChange(REMOVE, "features/old_clicks.py", "d" * 64, None),
        ],
        plan=Plan(add=1, change=2, destroy=1),
        graph=_graph(),
        changed_nodes=frozenset({"model:ctr", "group:user_activity"}),
    )


def hostile_review() -> Review:
    """Every text a spec controls set to HTML, Markdown, fences and line breaks."""
    return Review(
        base_label=HOSTILE, head_label=HOSTILE + "2",
        changes=[Change(CHANGE, "models", HOSTILE, (HOSTILE,), HOSTILE, "````" + HOSTILE),
                 Change(ADD, HOSTILE, "x", (), None, {HOSTILE: HOSTILE})],
        impacts=[Impact(HOSTILE, DANGEROUS, (HOSTILE, "b|c"), HOSTILE, HOSTILE),
                 Impact("deletion", ERROR, (HOSTILE,), HOSTILE)],
        artifacts=[ArtifactChange(CHANGE, HOSTILE, "a", "b", 1, 2)],
        problems=[Problem("head", HOSTILE, HOSTILE + "\n```\n````\n</details>\n  ^ here", ("E1",))],
        plan=Plan(add=1, change=1),
        graph=Graph({f"model:{HOSTILE}": Node(f"model:{HOSTILE}", "model", HOSTILE)}, set()),
        changed_nodes=frozenset({f"model:{HOSTILE}"}),
    )


def many_changes(count: int = 10_000) -> Review:
    review = full_review()
    review.changes = [Change(CHANGE, "models", f"model_{n:05d}", ("training", "epochs"), n, n + 1)
                      for n in range(count)]
    return review


# --- Markdown checks --------------------------------------------------------------------------

def _html_tags(html: str) -> set[str]:
    html = re.sub(r"<!--.*?-->", "", html, flags=re.S)
    return {name.lower() for name in re.findall(r"</?\s*([A-Za-z][A-Za-z0-9-]*)", html)}


def well_formed(markdown: str) -> list:
    """Parse ``markdown`` and check it: open and close tokens balanced (blocks and inline),
    every fence closed, raw HTML only <details>/<summary>/<sub>, <details> opened and closed
    in pairs. Returns the block tokens."""
    tokens = MD.parse(markdown)
    lines = markdown.split("\n")
    stack: list[str] = []
    html = []
    for token in tokens:
        _balance(stack, token)
        if token.type == "html_block":
            html.append(token.content)
        if token.type == "fence":
            start, end = token.map
            closing = lines[end - 1].strip()
            assert end - 1 > start and set(closing) == {token.markup[0]} and len(closing) >= len(token.markup), \
                f"fence at line {start + 1} is not closed"
        inner: list[str] = []
        for child in token.children or []:
            _balance(inner, child)
            if child.type == "html_inline":
                html.append(child.content)
        assert not inner, inner
    assert not stack, stack
    tags = set().union(*(_html_tags(h) for h in html)) if html else set()
    assert tags <= ALLOWED_TAGS, tags
    joined = "".join(html)
    assert joined.count("<details>") == joined.count("</details>")
    return tokens


def _balance(stack: list[str], token) -> None:
    if token.nesting == 1:
        stack.append(token.type.removesuffix("_open"))
    elif token.nesting == -1:
        assert stack and stack.pop() == token.type.removesuffix("_close"), token.type


def tables(tokens) -> list[list[list[str]]]:
    """Each table as rows of cell texts (as rendered: escapes and entities resolved)."""
    found, row = [], None
    for token in tokens:
        if token.type == "table_open":
            found.append([])
        elif token.type == "tr_open":
            row = []
            found[-1].append(row)
        elif token.type == "inline" and row is not None:
            row.append(_rendered(token))
        elif token.type == "tr_close":
            row = None
    return found


def _rendered(inline) -> str:
    """The text a reader sees; a code span shown with the backticks that quoted it."""
    return "".join(c.content if c.type == "text" else f"`{c.content}`" for c in inline.children
                   if c.type in ("text", "code_inline"))


def fences(tokens, info: str | None = None) -> list:
    return [t for t in tokens if t.type == "fence" and (info is None or t.info == info)]


# --- Markdown ---------------------------------------------------------------------------------

def test_markdown_has_every_part_in_order():
    review = full_review()
    text = render_markdown(review)
    tokens = well_formed(text)
    lines = text.split("\n")
    assert lines[0] == "### mlc diff: origin/main:specs/ctr.mlc.yaml → specs/ctr.mlc.yaml"
    summary = "**Plan: 1 to add, 2 to change, 1 to destroy · retrain (2): ctr@north, ctr@east · " \
              "backfill (1): user\\_activity · traffic (1): homepage**"
    assert lines[2] == summary
    order = ["### mlc diff", summary, "> [!CAUTION]", "#### Impact", "```mermaid",
             "<details><summary>Semantic diff (4 changes)</summary>",
             "<details><summary>Artifacts (3 files)</summary>", "<sub>mlc 0.1.0 · exit code 3</sub>"]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    assert "were cut" not in text
    assert "> - **DANGEROUS** traffic — homepage: the salt changed: units move (W5104)" in text
    impact_table, artifact_table = tables(tokens)
    assert impact_table == [["impact", "level", "subjects", "reason"],
                            ["retrain", "info", "ctr@north, ctr@east", "training.epochs changed"],
                            ["backfill", "info", "user_activity", "windows changed"],
                            ["traffic", "DANGEROUS", "homepage", "the salt changed: units move (W5104)"]]
    assert artifact_table == [["change", "path", "lines"], ["changed", "training/ctr/train.py", "+3 -1"],
                              ["added", "training/ctr_v2/train.py", "+40 -0"],
                              ["removed", "features/old_clicks.py", ""]]


def test_markdown_details_blocks_have_blank_lines_around_their_content():
    text = render_markdown(full_review())
    for title in ("Semantic diff (4 changes)", "Artifacts (3 files)"):
        start = text.index(f"<details><summary>{title}</summary>\n\n")
        assert "\n\n</details>" in text[start:]
    diff = fences(MD.parse(text), "diff")[0].content.splitlines()
    assert diff == ["@@ feature_groups @@", '- feature_groups.old_clicks: {"source":"events"}',
                    '~ feature_groups.user_activity.windows: ["1d"] -> ["1d","7d"]',
                    "@@ models @@", "~ models.ctr.training.epochs: 3 -> 5",
                    '+ models.ctr_v2: {"type":"dnn","layers":[64,32]}']


def test_markdown_lineage_shows_the_affected_part_with_changed_nodes_highlighted():
    diagram = fences(MD.parse(render_markdown(full_review())), "mermaid")[0].content
    assert diagram.startswith("flowchart LR\n")
    assert "model: ctr" in diagram and "shard: north" in diagram and "source: events" in diagram
    assert "model: other" not in diagram          # not affected
    assert re.search(r"class n\d+,n\d+ changed", diagram)


def test_markdown_without_graph_or_changed_nodes_has_no_diagram():
    review = full_review()
    review.changed_nodes = frozenset()
    assert "```mermaid" not in render_markdown(review)
    review = full_review()
    review.graph = None
    assert "```mermaid" not in render_markdown(review)


def test_markdown_no_changes_is_a_note():
    text = render_markdown(Review("origin/main:a.mlc.yaml", "a.mlc.yaml"))
    well_formed(text)
    assert "**No changes.**" in text
    assert "> [!NOTE]\n> No changes." in text
    assert "<details>" not in text and "[!CAUTION]" not in text
    assert text.rstrip().endswith("<sub>mlc 0.1.0 · exit code 0</sub>")


def test_markdown_problems_are_fenced_verbatim():
    diagnostics = "specs/x.mlc.yaml:3:7: error E1234: unknown source `clicks`\n  source: clicks\n  ^^^^^^"
    review = Review("origin/main:specs/x.mlc.yaml", "specs/x.mlc.yaml",
                    problems=[Problem("head", "specs/x.mlc.yaml", diagnostics, ("E1234",))])
    text = render_markdown(review)
    tokens = well_formed(text)
    assert "#### Problems" in text and "**head** could not be read: specs/x.mlc.yaml" in text
    assert [f.content for f in fences(tokens)] == [diagnostics + "\n"]
    assert "exit code 2" in text


def test_markdown_error_impacts_are_in_the_caution_callout():
    review = full_review()
    review.impacts = [Impact("deletion", ERROR, ("user_activity",), "still used by model ctr")]
    text = render_markdown(review)
    assert "> [!CAUTION]" in text and "> - **ERROR** deletion — user\\_activity: still used by model ctr" in text
    assert "exit code 2" in text


def test_markdown_escapes_hostile_text_everywhere():
    review = hostile_review()
    text = render_markdown(review)
    tokens = well_formed(text)                  # no raw HTML but details/summary/sub
    lines = text.split("\n")
    in_fences = {n for t in fences(tokens) for n in range(*t.map)}
    outside = "\n".join(line for n, line in enumerate(lines) if n not in in_fences)
    # hostile text reaches the source only escaped or inside code spans (literal for Markdown
    # and HTML); it never becomes an HTML token
    unescaped = re.sub(r"(?<!\\)(`+)(?!`).+?(?<!`)\1(?!`)", "", outside)     # code spans removed
    assert "<script>" not in unescaped and "<img" not in unescaped and "</details> " not in unescaped
    html = [c.content for t in tokens if t.type == "inline" for c in t.children if c.type == "html_inline"]
    html += [t.content for t in tokens if t.type == "html_block"]
    assert not any("<script" in h or "<img" in h for h in html)
    heading = next(t for t in tokens if t.type == "inline")
    assert _rendered(heading) == f"mlc diff: {printable(HOSTILE)} → {printable(HOSTILE + '2')}"
    for inline in (t for t in tokens if t.type == "inline"):
        assert {c.type for c in inline.children} <= {"text", "strong_open", "strong_close", "html_inline",
                                                     "softbreak", "code_inline"}, inline.content
    impact_table, artifact_table = tables(tokens)
    assert len(impact_table) == 3 and all(len(row) == 4 for row in impact_table)
    assert impact_table[1] == [printable(HOSTILE), "DANGEROUS", f"{printable(HOSTILE)}, b|c",
                               f"{printable(HOSTILE)} ({printable(HOSTILE)})"]
    assert len(artifact_table) == 2 and artifact_table[1] == ["changed", printable(HOSTILE), "+1 -2"]
    problem, mermaid, diff = fences(tokens)
    assert problem.content == HOSTILE + "\n```\n````\n</details>\n  ^ here\n"
    assert len(problem.markup) == 5 and len(diff.markup) > 4   # longer than any backtick run inside
    assert mermaid.info == "mermaid" and "<" not in mermaid.content
    assert len(diff.content.splitlines()) == 4                 # 2 sections, 2 changes: no line breaks


# --- Markdown: the comment limit ---------------------------------------------------------------

def test_markdown_10k_changes_fit_in_a_github_comment():
    text = render_markdown(many_changes(10_000))
    assert len(text) <= GITHUB_COMMENT_LIMIT
    tokens = well_formed(text)
    lines = text.split("\n")
    assert lines[4].startswith(CUT_LINE) and "semantic diff" in lines[4]
    assert re.search(r"^… [\d,]+ more lines not shown \(comment limit\)$", text, re.M)
    kept = fences(tokens, "diff")[0].content.splitlines()
    assert 100 < len(kept) < 10_001
    assert "```mermaid" in text                     # cutting the diff was enough
    assert "<details><summary>Semantic diff (10,000 changes)</summary>" in text
    assert text.rstrip().endswith("exit code 3</sub>")


def test_markdown_cuts_the_largest_details_first_then_the_diagram():
    review = many_changes(2_000)
    review.artifacts = [ArtifactChange(ADD, f"features/f{n}.py", None, "a" * 64, 10, 0) for n in range(300)]
    text = render_markdown(review, limit=20_000)
    assert len(text) <= 20_000
    well_formed(text)
    assert "Artifacts (300 files)" in text and "more rows not shown" not in text   # the smaller one stays
    assert "more lines not shown" in text

    nodes = {f"model:m{n}": Node(f"model:m{n}", "model", f"m{n}") for n in range(3_000)}
    review.graph, review.changed_nodes = Graph(nodes, set()), frozenset(nodes)
    text = render_markdown(review, limit=20_000)
    assert len(text) <= 20_000
    well_formed(text)
    assert "```mermaid" not in text and "lineage diagram" in text.split("\n")[4]
    assert "Some details were cut to fit the 20,000-character comment limit" in text


def test_markdown_never_exceeds_the_limit_when_everything_is_huge():
    review = hostile_review()
    review.changes = many_changes(10_000).changes
    review.impacts = [Impact("traffic", DANGEROUS, (f"exp{n}" * 20,), HOSTILE * 3, "W5105") for n in range(3_000)]
    review.artifacts = [ArtifactChange(CHANGE, f"{HOSTILE}{n}", "a", "b", n, n) for n in range(10_000)]
    review.problems = [Problem("head", HOSTILE, "x" * 100 + "\n" + "error\n" * 20_000)]
    review.base_label = HOSTILE * 1_000
    for limit in (GITHUB_COMMENT_LIMIT, 10_000, MIN_LIMIT):
        text = render_markdown(review, limit=limit)
        assert len(text) <= limit, limit
        well_formed(text)
        assert "were cut" in text and text.rstrip().endswith("exit code 2</sub>")


def test_markdown_limit_below_the_minimum_is_refused():
    with pytest.raises(ValueError):
        render_markdown(full_review(), limit=MIN_LIMIT - 1)


def test_markdown_is_deterministic():
    assert render_markdown(many_changes(3_000)) == render_markdown(many_changes(3_000))


# --- text -------------------------------------------------------------------------------------

def test_text_plain_has_no_escape_codes_and_sections_in_order():
    review = full_review()
    review.problems = [Problem("head", "specs/ctr.mlc.yaml", "specs/ctr.mlc.yaml:1:1: error E1\n  ^")]
    text = render_text(review, color=False)
    assert "\x1b[" not in text
    order = ["origin/main:specs/ctr.mlc.yaml -> specs/ctr.mlc.yaml", "PROBLEMS",
             "specs/ctr.mlc.yaml:1:1: error E1\n  ^\n", "feature_groups", "models", "IMPACT", "ARTIFACTS",
             "Plan: 1 to add, 2 to change, 1 to destroy"]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    assert "  ~ models.ctr.training.epochs: 3 -> 5\n" in text
    assert '  + models.ctr_v2: {"type":"dnn","layers":[64,32]}\n' in text
    assert '  - feature_groups.old_clicks: {"source":"events"}\n' in text
    assert re.search(r"traffic +DANGEROUS +homepage +the salt changed: units move +\[W5104\]", text)
    assert "  ~ training/ctr/train.py  +3 -1\n" in text
    assert text.rstrip().splitlines()[-1].startswith("Plan: 1 to add")


def test_text_with_colour_has_escape_codes():
    text = render_text(full_review(), color=True)
    assert "\x1b[" in text
    assert "\x1b[1;31mDANGEROUS" in text           # bold red level marker
    assert "\x1b[32m" in text and "\x1b[31m" in text and "\x1b[33m" in text   # + - ~
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert plain == render_text(full_review(), color=False)


def test_text_cuts_long_values_and_escapes_control_characters():
    review = Review("a\x1b[31mred", "b", changes=[Change(ADD, "models", "m", ("x",), None, "v" * 500)])
    text = render_text(review, color=False)
    assert "\x1b" not in text and "a\\x1b[31mred -> b" in text
    line = next(l for l in text.splitlines() if l.startswith("  + "))
    assert line.endswith("…") and len(line) < 140


def test_text_no_changes():
    text = render_text(Review("a", "b"), color=False)
    assert text == "a -> b\n\nNo changes.\n"


# --- JSON -------------------------------------------------------------------------------------

def test_json_round_trips_with_the_documented_keys():
    text = render_json(full_review())
    assert text.endswith("}\n")
    data = json.loads(text)
    assert list(data) == ["base", "head", "summary", "exit_code", "dangerous", "plan", "changes",
                          "impacts", "artifacts", "problems"]
    assert data["exit_code"] == 3 and data["dangerous"] is True
    assert data["plan"] == {"add": 1, "change": 2, "destroy": 1}
    assert data["summary"].startswith("Plan: 1 to add")
    assert data["changes"][0] == {"op": "~", "path": "models.ctr.training.epochs", "section": "models",
                                  "entity": "ctr", "property": "training.epochs", "old": 3, "new": 5}
    assert data["changes"][1]["property"] == "" and data["changes"][1]["new"] == {"type": "dnn", "layers": [64, 32]}
    assert data["impacts"][2] == {"kind": "traffic", "level": "dangerous", "subjects": ["homepage"],
                                  "reason": "the salt changed: units move", "code": "W5104"}
    assert data["artifacts"][2] == {"op": "-", "path": "features/old_clicks.py", "old_sha256": "d" * 64,
                                    "new_sha256": None, "added_lines": None, "removed_lines": None}
    assert data["problems"] == []
    assert render_json(full_review()) == text


def test_json_keeps_hostile_text_exactly():
    data = json.loads(render_json(hostile_review()))
    assert data["base"] == HOSTILE and data["changes"][0]["new"] == "````" + HOSTILE
    assert data["problems"][0]["codes"] == ["E1"]


@pytest.mark.parametrize("name, review, code", [
    ("nothing", Review("a", "b"), 0),
    ("changes", Review("a", "b", changes=[Change(ADD, "models", "m", ())]), 1),
    ("artifacts only", Review("a", "b", artifacts=[ArtifactChange(CHANGE, "x.py", "a", "b", 1, 1)]), 1),
    ("info impact", Review("a", "b", changes=[Change(CHANGE, "models", "m", ("x",), 1, 2)],
                           impacts=[Impact("retrain", INFO, ("m",), "x changed")]), 1),
    ("problem", Review("a", "b", problems=[Problem("head", "b", "b:1:1: error")]), 2),
    ("error impact", Review("a", "b", impacts=[Impact("deletion", ERROR, ("g",), "still used")]), 2),
    ("dangerous", Review("a", "b", impacts=[Impact("traffic", DANGEROUS, ("e",), "salt", "W5104")]), 3),
    ("dangerous and error", Review("a", "b", impacts=[Impact("traffic", DANGEROUS, ("e",), "salt"),
                                                      Impact("deletion", ERROR, ("g",), "used")]), 2),
])
def test_exit_codes_in_every_format(name, review, code):
    assert review.exit_code == code
    assert json.loads(render_json(review))["exit_code"] == code
    assert f"exit code {code}</sub>" in render_markdown(review)


# --- CI examples ------------------------------------------------------------------------------

CI = REPO / "examples" / "ci"


def _workflow() -> dict:
    return yaml.safe_load((CI / "github-actions.yml").read_text())


def test_github_workflow_structure():
    workflow = _workflow()
    on = workflow.get("on", workflow.get(True))      # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in on and "labeled" in on["pull_request"]["types"]
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    assert all(step.get("name") for step in steps)
    uses = {step["uses"].split("@")[0]: step for step in steps if "uses" in step}
    assert uses["actions/checkout"]["with"]["fetch-depth"] == 0
    assert uses["actions/setup-python"]["with"]["python-version"] == "3.11"
    script = uses["actions/github-script"]["with"]["script"]
    assert "<!-- mlc-diff -->" in script and "updateComment" in script and "createComment" in script
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "pip install mlc" in runs and "fetch-depth" not in runs
    assert "mlc validate --format github" in runs
    assert re.search(r"mlc diff \"\$spec\" --base \"origin/\$\{BASE_REF\}\" --format markdown", runs)
    assert "...HEAD" in runs and "approved-dangerous" in str(steps[-1]["env"])
    assert job["env"]["BASE_REF"] == "${{ github.base_ref }}"


def test_github_workflow_scripts_are_valid_bash():
    for step in _workflow()["jobs"]["review"]["steps"]:
        if "run" in step:
            script = re.sub(r"\$\{\{.*?\}\}", "x", step["run"])
            result = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
            assert result.returncode == 0, (step["name"], result.stderr)


def test_github_workflow_gate_fails_on_2_and_on_3_without_the_label():
    gate = _workflow()["jobs"]["review"]["steps"][-1]["run"]

    def run(**env) -> int:
        base = {"VALIDATE": "success", "DIFF": "success", "TROUBLE": "0", "DANGEROUS": "0", "APPROVED": "false"}
        return subprocess.run(["bash", "-e", "-c", gate], env={**base, **env}, capture_output=True).returncode

    assert run() == 0
    assert run(TROUBLE="1") == 1 and run(VALIDATE="failure") == 1 and run(DIFF="failure") == 1
    assert run(DANGEROUS="1") == 1 and run(DANGEROUS="1", APPROVED="true") == 0
    assert run(TROUBLE="1", DANGEROUS="1", APPROVED="true") == 1


def _matches(pattern: str) -> list[str]:
    names = ["specs/a.mlc.yaml", "b.mlc.yml", "c.yaml", "d.mlc.yaml.bak", "e.mlc.json"]
    return [n for n in names if re.search(pattern, n)]


def test_pre_commit_config_runs_mlc_validate_on_specs():
    config = yaml.safe_load((CI / ".pre-commit-config.yaml").read_text())
    (repo,) = config["repos"]
    assert repo["repo"] == "local"
    (hook,) = repo["hooks"]
    assert hook["id"] == "mlc-validate" and hook["entry"] == "mlc validate"
    assert hook["language"] == "system" and hook["pass_filenames"] is True
    assert _matches(hook["files"]) == ["specs/a.mlc.yaml", "b.mlc.yml"]


def test_pre_commit_hooks_offered_by_this_repository():
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "mlc-validate" and hook["entry"] == "mlc validate"
    assert hook["language"] == "python" and hook["pass_filenames"] is True
    assert _matches(hook["files"]) == ["specs/a.mlc.yaml", "b.mlc.yml"]


def test_ci_readme_explains_exit_codes_and_the_label():
    readme = (CI / "README.md").read_text()
    assert "approved-dangerous" in readme and "<!-- mlc-diff -->" in readme
    assert all(f"| {code} |" in readme for code in range(4))
