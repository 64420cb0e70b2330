"""Lineage graph (mlc.review.lineage): nodes and edges, changes, affected part, diagrams."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from specs import MINIMAL_SPEC

from mlc.core.ir import to_jsonable
from mlc.compiler.pipeline import build
from mlc.review.lineage import Graph, Node, affected, changed_nodes, lineage, merge, to_dot, to_mermaid
from mlc.review.model import Change

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

MINIMAL_NODES = {
    "source:orders", "group:rider_activity", "input:rider_id", "input:distance_km", "input:city",
    "feature:log_dist", "feature:dist_z", "feature:load", "feature:city_id", "model:eta", "shard:main",
    "experiment:e1",
}
MINIMAL_EDGES = {
    ("source:orders", "group:rider_activity"), ("source:orders", "model:eta"),
    ("group:rider_activity", "feature:load"), ("input:distance_km", "feature:log_dist"),
    ("input:city", "feature:city_id"), ("feature:log_dist", "feature:dist_z"),
    ("feature:dist_z", "model:eta"), ("feature:load", "model:eta"), ("feature:city_id", "model:eta"),
    ("model:eta", "shard:main"), ("model:eta", "experiment:e1"),
}

NODE_LINE = re.compile(r'^  (n\d+)\["([^"\n]*)"\]$')
EDGE_LINE = re.compile(r"^  (n\d+) --> (n\d+)$")
HOSTILE = ['a"b', "x]y[z", "new\nline", "a --> b", "#quot;", "end", "<b>bold</b>", "semi;colon", "back`tick", "(p)|{q}"]


def _mldl(tmp_path: Path, text: str = MINIMAL_SPEC) -> dict:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    result = build(str(path))
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    return to_jsonable(result.ir)


@pytest.fixture
def minimal(tmp_path) -> Graph:
    return lineage(_mldl(tmp_path))


def _hostile_graph() -> Graph:
    nodes = {f"model:{n}": Node(f"model:{n}", "model", n) for n in HOSTILE}
    nodes["shard:main"] = Node("shard:main", "shard", "main")
    return Graph(nodes, {(nid, "shard:main") for nid in nodes if nid != "shard:main"})


def _parse_mermaid(text: str) -> tuple[dict[str, str], set[tuple[str, str]], list[str]]:
    """(node -> label, edges, highlighted) of the mermaid we write; fails on any other line."""
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    labels, edges, marked = {}, set(), []
    for line in lines[1:]:
        if (node := NODE_LINE.match(line)) is not None:
            assert node[1] not in labels
            labels[node[1]] = node[2]
        elif (edge := EDGE_LINE.match(line)) is not None:
            edges.add((edge[1], edge[2]))
        elif line == "  classDef changed fill:#fff3b0,stroke:#d29922":
            continue
        elif line.startswith("  class ") and line.endswith(" changed"):
            marked = line[len("  class "):-len(" changed")].split(",")
        else:
            pytest.fail(f"unexpected mermaid line {line!r}")
    assert all(a in labels and b in labels for a, b in edges), "an edge references an undeclared node"
    assert all(m in labels for m in marked)
    return labels, edges, marked


def _unescape_mermaid(label: str) -> str:
    return re.sub(r"#(\d+|quot);", lambda m: '"' if m[1] == "quot" else chr(int(m[1])), label)


def test_nodes_and_edges_of_a_small_spec(minimal):
    assert set(minimal.nodes) == MINIMAL_NODES
    assert minimal.edges == MINIMAL_EDGES
    assert all(n.id == f"{n.kind}:{n.name}" for n in minimal.nodes.values())
    assert minimal.members == {"entity:rider": ("group:rider_activity",), "layer:ranking": ("experiment:e1",)}


def test_sharded_example_links_models_to_shards_experiments_and_switchbacks():
    result = build(str(EXAMPLES / "delivery_eta" / "delivery.mlc.yaml"))
    graph = lineage(to_jsonable(result.ir))
    for shard in ("north_west", "east", "south"):
        assert ("model:eta_dnn", f"shard:{shard}") in graph.edges
    assert ("model:eta_wide_deep", "switchback:dispatch_eta") in graph.edges
    assert ("model:eta_dnn", "experiment:dnn_refresh") in graph.edges
    assert ("source:deliveries", "group:rider_performance") in graph.edges
    assert ("group:rider_load", "feature:rider_orders_30m") in graph.edges


def test_a_preprocess_input_can_feed_a_model_directly(tmp_path):
    text = MINIMAL_SPEC.replace("inputs: {dense: [dist_z, load], sparse: [city_id]}",
                                "inputs: {dense: [dist_z, distance_km], sparse: [city_id]}")
    graph = lineage(_mldl(tmp_path, text))
    assert ("input:distance_km", "model:eta") in graph.edges
    assert "feature:load" in graph.nodes and ("feature:load", "model:eta") not in graph.edges


def test_mermaid_declares_every_node_once_in_kind_then_name_order(minimal):
    text = to_mermaid(minimal, highlight={"feature:log_dist", "model:eta", "not:a_node"})
    labels, edges, marked = _parse_mermaid(text)
    assert list(labels) == [f"n{i}" for i in range(1, len(MINIMAL_NODES) + 1)]
    assert list(labels.values())[:3] == ["source: orders", "group: rider_activity", "input: city"]
    assert len(edges) == len(MINIMAL_EDGES)
    number = {label: n for n, label in labels.items()}
    assert (number["feature: log_dist"], number["feature: dist_z"]) in edges
    assert marked == sorted([number["feature: log_dist"], number["model: eta"]], key=lambda s: int(s[1:]))
    assert "classDef" not in to_mermaid(minimal)


def test_hostile_names_stay_inside_quoted_mermaid_labels():
    graph = _hostile_graph()
    labels, edges, _ = _parse_mermaid(to_mermaid(graph, highlight=set(graph.nodes)))
    assert len(labels) == len(graph.nodes) and len(edges) == len(graph.edges)
    decoded = {_unescape_mermaid(label) for label in labels.values()}
    assert decoded == {f"model: {n.replace(chr(10), ' ')}" for n in HOSTILE} | {"shard: main"}
    for label in labels.values():     # only entity codes (`#34;`, `#quot;`) carry the risky characters
        assert not set(re.sub(r"#(\d+|quot);", "", label)) & set('"#[]<>;`(){}|\n')


def test_dot_quotes_and_escapes_ids_and_labels(minimal):
    text = to_dot(_hostile_graph(), highlight={'model:a"b'})
    assert text.startswith("digraph lineage {\n  rankdir=LR;\n") and text.endswith("}\n")
    assert '"model:a\\"b" [label="model: a\\"b", style=filled, fillcolor="#fff3b0"' in text
    assert '"model:new\\nline"' in text and "new\nline" not in text
    assert '"model:a --> b" -> "shard:main";' in text
    for line in text.splitlines()[3:-1]:      # every quote outside a string opens or closes one
        assert re.fullmatch(r'  (?:"(?:[^"\\]|\\.)*"(?: -> "(?:[^"\\]|\\.)*")?)(?: \[.*\])?;', line), line
    plain = to_dot(minimal)
    assert '"feature:log_dist" -> "feature:dist_z";' in plain and "filled" not in plain


def test_diagrams_do_not_depend_on_the_hash_seed():
    script = ("from mlc.compiler.pipeline import build; from mlc.core.ir import to_jsonable; "
              "from mlc.review.lineage import lineage, to_mermaid, to_dot, affected; import sys; "
              "g = lineage(to_jsonable(build(sys.argv[1]).ir)); "
              "print(to_mermaid(g, {'model:eta_dnn'}) + to_dot(affected(g, {'feature:city_id'})))")
    spec = str(EXAMPLES / "delivery_eta" / "delivery.mlc.yaml")
    outputs = {subprocess.run([sys.executable, "-c", script, spec], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(outputs) == 1 and "flowchart LR" in outputs.pop()


def test_affected_is_changed_plus_downstream_plus_direct_upstream(minimal):
    part = affected(minimal, {"feature:log_dist"})
    assert set(part.nodes) == {"input:distance_km", "feature:log_dist", "feature:dist_z", "model:eta",
                               "shard:main", "experiment:e1"}
    assert part.edges == {e for e in MINIMAL_EDGES if e[0] in part.nodes and e[1] in part.nodes}
    assert set(affected(minimal, {"source:orders"}).nodes) == {
        "source:orders", "group:rider_activity", "feature:load", "model:eta", "shard:main", "experiment:e1"}
    assert affected(minimal, set()).nodes == {}


def test_changed_nodes_map_sections_to_nodes_and_merge_keeps_removed_ones(tmp_path, minimal):
    head = lineage(_mldl(tmp_path, MINIMAL_SPEC.replace("    city_id: hash_bucket(city, 100)\n", "")
                         .replace("sparse: [city_id]", "sparse: []")))
    changes = [
        Change("~", "derived", "log_dist", ("expression",), "a", "b"),
        Change("-", "derived", "city_id", ()),
        Change("~", "analyzers", "dist_z:standardize:0", ("params",)),
        Change("~", "entities", "rider", ("keys",)),
        Change("~", "layers", "ranking", ("salt",)),
        Change("~", "deployment", "", ("replicas",), 1, 2),
        Change("~", "spec", "", ("description",), "a", "b"),
        Change("~", "models", "eta", ("training", "epochs"), 2, 3),
    ]
    assert changed_nodes(changes, minimal, head) == {
        "feature:log_dist", "feature:city_id", "feature:dist_z", "group:rider_activity", "experiment:e1",
        "shard:main", "model:eta"}
    assert changed_nodes([Change("~", "layers", "", (), ["a", "b"], ["b", "a"])], minimal, head) == {"experiment:e1"}
    assert changed_nodes([Change("-", "deployment", "", ("shards", "main"))], minimal, head) == {"shard:main"}
    merged = merge(minimal, head)
    assert "feature:city_id" in merged.nodes and ("feature:city_id", "model:eta") in merged.edges
    assert "model:eta" in affected(merged, {"feature:city_id"}).nodes
