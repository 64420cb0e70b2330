"""The lineage graph of an application (docs/review.md "Lineage"), and its diagrams.

    graph = lineage(mldl)                          # from an mldl.json dict
    part = affected(merge(base, head), changed)    # what a change touches
    text = to_mermaid(part, highlight=changed)     # or to_dot(...)

Nodes are ``kind:name`` (kinds in :data:`NODE_KINDS` order); edges point downstream:
source -> group (the group's source), group -> feature (a ``group.output`` dependency),
input -> feature, feature -> feature (``depends_on``), input/feature -> model (dense and sparse
inputs; a ``group.output`` model input gives group -> model), source -> model (training source),
model -> shard (the shard serves it), model -> experiment / switchback (a variant uses it).

Besides nodes and edges a graph keeps ``members``: ``entity:E`` -> the group nodes keyed by E,
``layer:L`` -> the experiment nodes of L. Entities and layers are no nodes, but a change to one
is a change to those (:func:`changed_nodes`).

Diagrams name nodes ``n1``, ``n2`` ... in kind order, then name, and quote every label with the
risky characters written as entity codes, so no spec name can break them. Everything is sorted:
the output does not depend on ``PYTHONHASHSEED``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

NODE_KINDS = ("source", "group", "input", "feature", "model", "shard", "experiment", "switchback")
CHANGED_FILL, CHANGED_STROKE = "#fff3b0", "#d29922"

# semantic-diff section -> node kind of its named items
_SECTION_KINDS = {"sources": "source", "feature_groups": "group", "inputs": "input", "derived": "feature",
                  "models": "model", "experiments": "experiment", "switchbacks": "switchback"}


@dataclass(frozen=True)
class Node:
    id: str        # f"{kind}:{name}"
    kind: str      # one of NODE_KINDS
    name: str


@dataclass
class Graph:
    nodes: dict[str, Node]
    edges: set[tuple[str, str]]                     # (upstream id, downstream id)
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)   # entity:/layer: -> node ids


def node_id(kind: str, name: str) -> str:
    return f"{kind}:{name}"


# ------------------------------------------------------------------------------- building


class _Builder:
    """Collects nodes and edges; an edge adds its missing end nodes."""

    def __init__(self) -> None:
        self.graph = Graph({}, set(), {})

    def node(self, kind: str, name: str) -> str:
        nid = node_id(kind, name)
        self.graph.nodes.setdefault(nid, Node(nid, kind, name))
        return nid

    def edge(self, upstream: str, downstream: str) -> None:
        self.graph.edges.add((upstream, downstream))


def lineage(mldl: dict) -> Graph:
    """The lineage graph of one IR dict."""
    build = _Builder()
    derived = {d["name"] for d in mldl.get("derived") or []}
    _sources_and_groups(build, mldl)
    for item in mldl.get("inputs") or []:
        build.node("input", item["name"])
    for feature in mldl.get("derived") or []:
        target = build.node("feature", feature["name"])
        for dependency in feature.get("depends_on") or []:
            build.edge(_reference(build, dependency, derived), target)
    _models_and_shards(build, mldl, derived)
    _experiments(build, mldl)
    return build.graph


def _sources_and_groups(build: _Builder, mldl: dict) -> None:
    for source in mldl.get("sources") or []:
        build.node("source", source["name"])
    members: dict[str, list[str]] = {}
    for group in mldl.get("feature_groups") or []:
        target = build.node("group", group["name"])
        if group.get("source"):
            build.edge(build.node("source", group["source"]), target)
        members.setdefault(f"entity:{group.get('entity')}", []).append(target)
    build.graph.members.update({k: tuple(v) for k, v in members.items()})


def _reference(build: _Builder, name: str, derived: set[str]) -> str:
    """The node of a name a feature or model reads: ``group.output`` -> the group, a derived
    feature, or else a preprocess input."""
    if "." in name:
        return build.node("group", name.split(".", 1)[0])
    return build.node("feature" if name in derived else "input", name)


def _models_and_shards(build: _Builder, mldl: dict, derived: set[str]) -> None:
    for model in mldl.get("models") or []:
        target = build.node("model", model["name"])
        for column in list(model.get("dense") or []) + list(model.get("sparse") or []):
            build.edge(_reference(build, column["name"], derived), target)
        source = (model.get("training") or {}).get("source")
        if source:
            build.edge(build.node("source", source), target)
    for shard in (mldl.get("deployment") or {}).get("shards") or []:
        target = build.node("shard", shard["name"])
        for model in shard.get("models") or []:
            build.edge(build.node("model", model), target)


def _experiments(build: _Builder, mldl: dict) -> None:
    for kind, items in (("experiment", mldl.get("experiments")), ("switchback", mldl.get("switchbacks"))):
        for item in items or []:
            target = build.node(kind, item["name"])
            for variant in item.get("variants") or []:
                if variant.get("model"):
                    build.edge(build.node("model", variant["model"]), target)
    for layer in mldl.get("layers") or []:
        build.graph.members[f"layer:{layer['name']}"] = tuple(
            node_id("experiment", name) for name in layer.get("experiments") or [])


def merge(base: Graph, head: Graph) -> Graph:
    """Both graphs in one: HEAD's nodes plus those removed since BASE, all edges, all members."""
    members = {key: tuple(sorted(set(base.members.get(key, ())) | set(head.members.get(key, ()))))
               for key in set(base.members) | set(head.members)}
    return Graph({**base.nodes, **head.nodes}, set(base.edges) | set(head.edges), members)


# ------------------------------------------------------------------------------- changes


def changed_nodes(changes: list, base: Graph, head: Graph) -> set[str]:
    """Node ids the semantic changes touch (``mlc.review.model.Change`` records).

    A section's named item is its node (derived -> feature, feature_groups -> group ...); a
    section-wide change (empty entity: the order of layers or switchbacks) is every node of the
    section; an analyzer is its feature; an entity is the groups keyed by it; a layer is its
    experiments (all experiments for the layers' order); a deployment change is the shard it
    names (path ``("shards", name, ...)``, or the shards a whole-list change adds, removes or
    alters), every shard when it is deployment-wide. ``spec`` changes touch no node."""
    known = {**base.nodes, **head.nodes}
    members = merge(base, head).members
    found: set[str] = set()
    for change in changes:
        found |= _change_nodes(change, known, members)
    return {nid for nid in found if nid in known}


def _change_nodes(change: Any, known: dict[str, Node], members: dict[str, tuple[str, ...]]) -> set[str]:
    section, entity = change.section, change.entity
    if section in _SECTION_KINDS:
        kind = _SECTION_KINDS[section]
        return {node_id(kind, entity)} if entity else _all_of(kind, known)
    if section == "analyzers":
        return {node_id("feature", entity.split(":", 1)[0])} if entity else set()
    if section == "entities":
        return set(members.get(f"entity:{entity}", ()))
    if section == "layers":
        return set(members.get(f"layer:{entity}", ())) if entity else _all_of("experiment", known)
    if section == "deployment":
        return _deployment_nodes(change, known)
    return set()


def _all_of(kind: str, known: dict[str, Node]) -> set[str]:
    """Every node of ``kind``: a section-wide change (the order of layers or switchbacks)."""
    return {nid for nid, node in known.items() if node.kind == kind}


def _deployment_nodes(change: Any, known: dict[str, Node]) -> set[str]:
    """The shards a deployment change is about."""
    shards = {n.name for n in known.values() if n.kind == "shard"}
    path = tuple(change.path)
    if change.entity in shards:
        return {node_id("shard", change.entity)}
    if path[:1] == ("shards",) and len(path) > 1 and path[1] in shards:
        return {node_id("shard", path[1])}
    if path == ("shards",):
        old = {s.get("name"): s for s in change.old or [] if isinstance(s, dict)}
        new = {s.get("name"): s for s in change.new or [] if isinstance(s, dict)}
        names = {n for n in set(old) | set(new) if old.get(n) != new.get(n)}
        if names:
            return {node_id("shard", n) for n in names}
    return {node_id("shard", n) for n in shards}


def affected(graph: Graph, changed: set[str]) -> Graph:
    """The part of ``graph`` a change touches: the changed nodes, everything downstream of
    them and their direct upstream neighbours, with the edges between those nodes."""
    downstream: dict[str, list[str]] = {}
    upstream: dict[str, list[str]] = {}
    for a, b in sorted(graph.edges):
        downstream.setdefault(a, []).append(b)
        upstream.setdefault(b, []).append(a)
    start = sorted(nid for nid in changed if nid in graph.nodes)
    keep = set(start)
    queue = deque(start)
    while queue:
        for nxt in downstream.get(queue.popleft(), []):
            if nxt not in keep:
                keep.add(nxt)
                queue.append(nxt)
    keep |= {up for nid in start for up in upstream.get(nid, [])}
    members = {k: tuple(v for v in ids if v in keep) for k, ids in graph.members.items()}
    return Graph({nid: graph.nodes[nid] for nid in sorted(keep)},
                 {(a, b) for a, b in graph.edges if a in keep and b in keep},
                 {k: v for k, v in members.items() if v})


# ------------------------------------------------------------------------------- rendering


def ordered_nodes(graph: Graph) -> list[Node]:
    """Nodes in kind order (:data:`NODE_KINDS`, unknown kinds last), then by name."""
    rank = {kind: i for i, kind in enumerate(NODE_KINDS)}
    return sorted(graph.nodes.values(), key=lambda n: (rank.get(n.kind, len(rank)), n.kind, n.name))


def _numbered(graph: Graph) -> dict[str, str]:
    """Node id -> ``n1``, ``n2`` ... in :func:`ordered_nodes` order."""
    return {node.id: f"n{i}" for i, node in enumerate(ordered_nodes(graph), start=1)}


def _sorted_edges(graph: Graph, numbers: dict[str, str]) -> list[tuple[str, str]]:
    index = {nid: int(short[1:]) for nid, short in numbers.items()}
    edges = [(a, b) for a, b in graph.edges if a in index and b in index]
    return sorted(edges, key=lambda e: (index[e[0]], index[e[1]]))


def _label(node: Node) -> str:
    return f"{node.kind}: {node.name}"


_MERMAID_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.:@/,+=!?'$%^*~-")


def mermaid_escape(text: str) -> str:
    """Text safe inside a quoted mermaid label: every character outside a small safe set
    (quotes, brackets, ``#``, ``;``, ``<``, ``>``, ``&``, backticks, line breaks ...) becomes a
    ``#<code>;`` entity (``"`` -> ``#quot;``); control characters become spaces first."""
    out = []
    for char in text:
        if char in "\r\n\t" or ord(char) < 32 or ord(char) == 127:
            char = " "
        if char == '"':
            out.append("#quot;")
        elif char in _MERMAID_SAFE:
            out.append(char)
        else:
            out.append(f"#{ord(char)};")
    return "".join(out)


def to_mermaid(graph: Graph, highlight: Iterable[str] = frozenset()) -> str:
    """A ``flowchart LR``: one ``nK["kind: name"]`` line per node, one ``nA --> nB`` per edge,
    highlighted nodes in the ``changed`` class."""
    numbers = _numbered(graph)
    lines = ["flowchart LR"]
    lines += [f'  {numbers[node.id]}["{mermaid_escape(_label(node))}"]' for node in ordered_nodes(graph)]
    lines += [f"  {numbers[a]} --> {numbers[b]}" for a, b in _sorted_edges(graph, numbers)]
    marked = sorted((numbers[nid] for nid in set(highlight) if nid in numbers), key=lambda s: int(s[1:]))
    if marked:
        lines.append(f"  classDef changed fill:{CHANGED_FILL},stroke:{CHANGED_STROKE}")
        lines.append(f"  class {','.join(marked)} changed")
    return "\n".join(lines) + "\n"


def dot_quote(text: str) -> str:
    """A Graphviz double-quoted string: backslashes and quotes escaped, line breaks as ``\\n``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    return f'"{escaped}"'


def to_dot(graph: Graph, highlight: Iterable[str] = frozenset()) -> str:
    """A ``digraph`` (``rankdir=LR``), nodes by quoted id with quoted labels, highlighted nodes
    filled."""
    marked = set(highlight)
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    for node in ordered_nodes(graph):
        style = f', style=filled, fillcolor="{CHANGED_FILL}", color="{CHANGED_STROKE}"' if node.id in marked else ""
        lines.append(f"  {dot_quote(node.id)} [label={dot_quote(_label(node))}{style}];")
    numbers = _numbered(graph)
    lines += [f"  {dot_quote(a)} -> {dot_quote(b)};" for a, b in _sorted_edges(graph, numbers)]
    lines.append("}")
    return "\n".join(lines) + "\n"
