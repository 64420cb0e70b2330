"""Property: a meaning-preserving rewrite of a spec changes nothing that mlc produces.

The delivery example (examples/delivery_eta: delivery.mlc.yaml including common.mlc.yaml) is
loaded and written back as YAML text with random, seeded rewrites that keep its meaning:

- mapping keys reordered wherever order means nothing (never the layers, experiments,
  variants and switchbacks of `experiments:`; sequences keep their order, except a shard's
  `partitions`, a source's `null_values`, a group's `windows` and the preferred batch sizes,
  which are sets);
- the original comments dropped, random comments and blank lines added;
- string scalars plain (only where both PyYAML's YAML 1.1 `safe_load` and mlc's YAML 1.2
  loader read the same string back), single-quoted, double-quoted or as `>-` / `|-` block
  scalars (each verified to load back); booleans and floats in other equivalent spellings;
- flow or block style per mapping and sequence, indentation 2 or 4, flow wrapped over lines;
- named entries of `sources`, `entities`, `feature_groups`, `preprocess.inputs`,
  `preprocess.features` and `models` moved into a new include file `extra.mlc.yaml` (added at a
  random place of `include:`), and entries of common.mlc.yaml moved into the main spec.

For every rewrite, with the overlay (`--env`) the seed picks:

1. `mlc diff BASE REWRITE --format json` exits 0 with no changes, impacts or artifacts;
2. `mlc compile` of both gives the same build folder: the same files, byte for byte. The one
   exception is `manifest.json`'s `spec.files` (the spec's source files and the sha256 of their
   text), which records the text and so must differ; it is checked against the files instead.

Every emitted file is first loaded back with both loaders and compared with the data it was
written from, so a bug of the emitter here fails with its own message, not as an mlc diff.
A negative control shows that the same checks fail on rewrites that change the meaning.

Seeds: a fixed list; `MLC_REWRITE_SEEDS=N` runs seeds 1..N instead.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, run_mlc

from mlc.schemas.yamlpos import load_yaml, resolve_scalar, to_plain

DELIVERY = EXAMPLES / "delivery_eta"
MAIN = "delivery.mlc.yaml"
COMMON = "common.mlc.yaml"
EXTRA = "extra.mlc.yaml"
ENVIRONMENTS = (None, "dev", "prod")

SEEDS = list(range(1, int(os.environ.get("MLC_REWRITE_SEEDS", "12")) + 1))

# Mappings whose order is meaning (experiment reservations and default controls follow it);
# "*" matches any key. Paths are taken after an `environments.NAME` prefix is removed.
ORDERED_MAPPINGS = (
    ("experiments", "layers"),
    ("experiments", "layers", "*", "experiments"),
    ("experiments", "layers", "*", "experiments", "*", "variants"),
    ("experiments", "switchbacks"),
    ("experiments", "switchbacks", "*", "variants"),
)
# Sequences that are sets: their order may change.
UNORDERED_SEQUENCES = (
    ("deployment", "sharding", "shards", "*", "partitions"),
    ("sources", "*", "null_values"),
    ("feature_groups", "*", "windows"),
    ("deployment", "serving", "dynamic_batching", "preferred_batch_sizes"),
)
# Sections whose named entries may live in any file of the spec.
MOVABLE_SECTIONS = (
    ("sources",), ("entities",), ("feature_groups",),
    ("preprocess", "inputs"), ("preprocess", "features"), ("models",),
)
REWRITES = ("move_common_to_main", "move_to_include", "reorder_keys", "scalar_styles",
            "collection_styles", "comments")

COMMENT_WORDS = ("note", "key: value", "- item", "'quoted'", '"double"', "{flow}", "[list]", "#hash",
                 "TODO", "see docs/spec.md", "a: b, c", "|", ">-", "&anchor", "*alias", "!tag", "%")


# ------------------------------------------------------------------ loading


def load_like_mlc(text: str, name: str):
    """The plain data mlc itself reads from a YAML text (its YAML 1.2 loader)."""
    result = load_yaml(text, name)
    assert not result.diagnostics, f"{name}: {[d.message for d in result.diagnostics]}"
    return to_plain(result.root)


def load_example() -> dict[str, dict]:
    return {name: load_like_mlc((DELIVERY / name).read_text(encoding="utf-8"), name) for name in (MAIN, COMMON)}


EXAMPLE_DOCS = load_example()


def same_data(a, b) -> bool:
    """Equal, with bools and numbers told apart (True == 1 in Python)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_data(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_data(x, y) for x, y in zip(a, b))
    return a == b


def loads_back_the_same(text: str, expected, name: str = "snippet") -> bool:
    try:
        pyyaml = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    result = load_yaml(text, name)
    return not result.diagnostics and same_data(pyyaml, expected) and same_data(to_plain(result.root), expected)


# ------------------------------------------------------------------ path rules


def matches(path: tuple, pattern: tuple) -> bool:
    return len(path) == len(pattern) and all(p == "*" or p == k for k, p in zip(path, pattern))


def spec_path(path: tuple) -> tuple:
    """The path an overlay's entry has in the spec it overlays."""
    return path[2:] if len(path) >= 2 and path[0] == "environments" else path


def mapping_order_is_free(path: tuple) -> bool:
    return not any(matches(spec_path(path), pattern) for pattern in ORDERED_MAPPINGS)


def sequence_order_is_free(path: tuple) -> bool:
    return any(matches(spec_path(path), pattern) for pattern in UNORDERED_SEQUENCES)


# ------------------------------------------------------------------ data rewrites


def reorder_keys(node, rng: random.Random, shuffled: list[str], path: tuple = ()):
    """Keys shuffled where order is free; sets (sequences) shuffled too, noted in `shuffled`."""
    if isinstance(node, dict):
        keys = list(node)
        if mapping_order_is_free(path):
            rng.shuffle(keys)
        return {key: reorder_keys(node[key], rng, shuffled, path + (key,)) for key in keys}
    if isinstance(node, list):
        items = [reorder_keys(item, rng, shuffled, path + ("[]",)) for item in node]
        if sequence_order_is_free(path):
            rng.shuffle(items)
            if items != node:
                shuffled.append(f"{'.'.join(path)}: {node} -> {items}")
        return items
    return node


def section(doc: dict, path: tuple, create: bool = False) -> dict | None:
    for key in path:
        if key not in doc:
            if not create:
                return None
            doc[key] = {}
        doc = doc[key]
    return doc


def drop_empty_section(doc: dict, path: tuple) -> None:
    for depth in range(len(path), 0, -1):
        parent = section(doc, path[:depth - 1])
        if parent is not None and parent.get(path[depth - 1]) == {}:
            del parent[path[depth - 1]]


def move_entries(source: dict, target: dict, rng: random.Random, share: float) -> list[str]:
    """Move a random subset of the named entries of the movable sections; returns their paths."""
    moved = []
    for path in MOVABLE_SECTIONS:
        entries = section(source, path)
        if not entries:
            continue
        for name in [n for n in entries if rng.random() < share]:
            section(target, path, create=True)[name] = entries.pop(name)
            moved.append(".".join(path + (name,)))
        drop_empty_section(source, path)
    return moved


def add_include(main: dict, rng: random.Random) -> None:
    includes = list(main.get("include", []))
    includes.insert(rng.randint(0, len(includes)), EXTRA)
    main["include"] = includes


# ------------------------------------------------------------------ emitter


@dataclass
class Line:
    text: str
    indent: int
    commentable: bool = True  # a key or item starts here (not a block scalar's or flow's inside)


@dataclass
class Emitter:
    rng: random.Random
    vary_scalars: bool
    vary_collections: bool
    width: int = 2

    # --- scalars

    def scalar(self, value, context: str) -> str:
        """One-line text of a scalar; context: block, flow, block_key or flow_key."""
        if isinstance(value, bool):
            return self.pick(("true", "True", "TRUE") if value else ("false", "False", "FALSE"))
        if value is None:
            return self.pick(("null", "~", "Null", "NULL"))
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return self.float_text(value)
        return self.string(value, context)

    def pick(self, spellings: tuple[str, ...]) -> str:
        return self.rng.choice(spellings) if self.vary_scalars else spellings[0]

    def float_text(self, value: float) -> str:
        candidates = [repr(value)]
        if self.vary_scalars:
            candidates.append(f"{value:.6e}")
            candidates.append(repr(value).upper())
        text = self.rng.choice(candidates)
        return text if loads_back_the_same(f"k: {text}\n", {"k": value}) else repr(value)

    def string(self, value: str, context: str) -> str:
        candidates = []
        if plain_is_safe(value, context):
            candidates.append(value)
        if "\n" not in value:
            candidates.append("'" + value.replace("'", "''") + "'")
        candidates.append(json.dumps(value))
        if not self.vary_scalars:
            return candidates[0]
        return self.rng.choice(candidates)

    def block_scalar(self, value, indent: int) -> list[str] | None:
        """A `>-` or `|-` block scalar (header, then body lines), if chosen and it loads back."""
        if not (self.vary_scalars and isinstance(value, str)) or self.rng.random() < 0.5:
            return None
        if "\n" not in value and len(value) < 30:
            return None
        body = folded_body(value, self.rng) if self.rng.random() < 0.6 else ("|-", value.split("\n"))
        if body is None:
            return None
        header, lines = body
        pad = " " * (indent + self.width)
        candidate = [header] + [pad + line if line else "" for line in lines]
        snippet = " " * indent + "k: " + "\n".join(candidate) + "\n"
        return candidate if loads_back_the_same(snippet, {"k": value}) else None

    # --- collections

    def use_flow(self, value) -> bool:
        if not value:
            return True
        if not self.vary_collections:
            return isinstance(value, list) and not any(isinstance(v, (dict, list)) for v in value)
        return self.rng.random() < (0.4 if leaf_count(value) <= 8 else 0.15)

    def flow(self, value, cont_indent: int) -> str:
        if isinstance(value, dict):
            parts = [f"{self.scalar(k, 'flow_key')}: {self.flow(v, cont_indent)}" for k, v in value.items()]
            return "{" + self.join_flow(parts, cont_indent) + "}"
        if isinstance(value, list):
            return "[" + self.join_flow([self.flow(v, cont_indent) for v in value], cont_indent) + "]"
        return self.scalar(value, "flow")

    def join_flow(self, parts: list[str], cont_indent: int) -> str:
        text = ""
        for i, part in enumerate(parts):
            if i:
                wrap = self.vary_collections and self.rng.random() < 0.2
                text += ",\n" + " " * cont_indent if wrap else ", "
            text += part
        return text

    def mapping(self, node: dict, indent: int) -> list[Line]:
        lines = []
        for key, value in node.items():
            head = " " * indent + self.scalar(key, "block_key") + ":"
            lines += self.value_after(head, value, indent)
        return lines

    def sequence(self, node: list, indent: int) -> list[Line]:
        lines = []
        for item in node:
            lines += self.value_after(" " * indent + "-", item, indent)
        return lines

    def value_after(self, head: str, value, indent: int) -> list[Line]:
        """`head` (a `key:` or `-`) followed by the value, inline or in nested lines."""
        if isinstance(value, (dict, list)) and not self.use_flow(value):
            child_indent = indent + self.width
            if isinstance(value, list) and head.endswith(":") and self.vary_collections and self.rng.random() < 0.5:
                child_indent = indent  # a block sequence may sit at its key's indentation
            nested = self.mapping(value, child_indent) if isinstance(value, dict) else self.sequence(value, child_indent)
            return [Line(head, indent)] + nested
        if isinstance(value, (dict, list)):
            text = self.flow(value, indent + self.width + 2)
            first, *rest = text.split("\n")
            return [Line(f"{head} {first}", indent, commentable=not rest)] + [Line(r, indent, False) for r in rest]
        block = self.block_scalar(value, indent)
        if block is not None:
            header, *body = block
            return [Line(f"{head} {header}", indent)] + [Line(b, indent, False) for b in body]
        return [Line(f"{head} {self.scalar(value, 'block')}", indent)]

    def document(self, doc: dict, comments: bool) -> str:
        lines = self.mapping(doc, 0) if doc else [Line("{}", 0)]
        if comments:
            lines = add_comments(lines, self.rng)
        return "\n".join(line.text for line in lines) + "\n"


def leaf_count(node) -> int:
    if isinstance(node, dict):
        return sum(leaf_count(v) for v in node.values())
    if isinstance(node, list):
        return sum(leaf_count(v) for v in node)
    return 1


def plain_is_safe(value: str, context: str) -> bool:
    """The text written plain reads back as the same string, with both loaders, in its context."""
    if not value or "\n" in value or value != value.strip() or resolve_scalar(value, None) != value:
        return False
    snippets = {
        "block": ((f"k: {value}\n", {"k": value}), (f"- {value}\n", [value]), (f"k: {value}  # c\n", {"k": value})),
        "flow": ((f"[{value}]\n", [value]), (f"{{k: {value}}}\n", {"k": value})),
        "block_key": ((f"{value}: 1\n", {value: 1}),),
        "flow_key": ((f"{{{value}: 1}}\n", {value: 1}),),
    }[context]
    return all(loads_back_the_same(text, expected) for text, expected in snippets)


def folded_body(value: str, rng: random.Random) -> tuple[str, list[str]] | None:
    """Lines of a `>-` scalar that folds back to `value`: a break between two lines without
    leading space needs an empty line; spaces inside such a line may become breaks."""
    lines = value.split("\n")
    if "" in lines or value[0] in " \t":
        return None
    out: list[str] = []
    for i, line in enumerate(lines):
        if i and not (line.startswith(" ") or lines[i - 1].startswith(" ")):
            out.append("")
        out += wrap_at_spaces(line, rng) if not line.startswith(" ") else [line]
    return ">-", out


def wrap_at_spaces(line: str, rng: random.Random) -> list[str]:
    words, pieces = line.split(" "), [""]
    if "" in words:  # double spaces: leave the line whole
        return [line]
    for word in words:
        if pieces[-1] and rng.random() < 0.3:
            pieces.append(word)
        else:
            pieces[-1] = f"{pieces[-1]} {word}" if pieces[-1] else word
    return pieces


def add_comments(lines: list[Line], rng: random.Random) -> list[Line]:
    out = [Line("# " + comment_text(rng), 0, False)] if rng.random() < 0.5 else []
    for line in lines:
        if line.commentable and rng.random() < 0.1:
            out.append(Line("", 0, False))
        if line.commentable and rng.random() < 0.15:
            out.append(Line(" " * rng.randint(0, line.indent) + "# " + comment_text(rng), line.indent, False))
        if line.commentable and rng.random() < 0.15:
            line = Line(line.text + " " * rng.randint(1, 4) + "# " + comment_text(rng), line.indent, False)
        out.append(line)
    return out


def comment_text(rng: random.Random) -> str:
    return " ".join(rng.choice(COMMENT_WORDS) for _ in range(rng.randint(1, 4)))


# ------------------------------------------------------------------ one rewrite


@dataclass
class Rewrite:
    seed: int
    environment: str | None
    files: dict[str, str]          # file name -> YAML text
    applied: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"seed {self.seed}, --env {self.environment}, rewrites:\n  " + "\n  ".join(self.applied)


def make_rewrite(seed: int, mutate=None) -> Rewrite:
    """The seeded rewrite of the example; ``mutate(docs)`` (negative control) edits the data first."""
    rng = random.Random(seed)
    docs = copy.deepcopy(EXAMPLE_DOCS)
    if mutate is not None:
        mutate(docs)
    chosen = [name for name in REWRITES if rng.random() < 0.6] or [rng.choice(REWRITES)]
    applied = ["re-emit every file (original comments dropped)"]
    environment = rng.choice(ENVIRONMENTS)
    if "move_common_to_main" in chosen:
        applied.append(f"move_common_to_main: {move_entries(docs[COMMON], docs[MAIN], rng, 0.3)}")
    if "move_to_include" in chosen:
        docs[EXTRA] = {}
        applied.append(f"move_to_include: {move_entries(docs[MAIN], docs[EXTRA], rng, 0.3)}")
        add_include(docs[MAIN], rng)
        applied.append(f"include: {docs[MAIN]['include']}")
    if "reorder_keys" in chosen:
        shuffled: list[str] = []
        docs = {name: reorder_keys(doc, rng, shuffled) for name, doc in docs.items()}
        applied.append(f"reorder_keys; sets shuffled: {shuffled}")
    emitter = Emitter(rng, "scalar_styles" in chosen, "collection_styles" in chosen)
    if emitter.vary_collections:
        emitter.width = rng.choice((2, 4))
        applied.append(f"collection_styles (indent {emitter.width})")
    applied += [name for name in ("scalar_styles", "comments") if name in chosen]
    files = {name: emitter.document(doc, "comments" in chosen) for name, doc in docs.items()}
    for name, text in files.items():
        assert loads_back_the_same(text, docs[name], name), (
            f"emitter bug (not an mlc finding): {name} does not load back as the data it was written "
            f"from; seed {seed}\n{text}")
    return Rewrite(seed, environment, files, applied)


# ------------------------------------------------------------------ running mlc


def write_tree(target: Path, files: dict[str, str]) -> None:
    shutil.copytree(DELIVERY, target, ignore=shutil.ignore_patterns(".mlc", "__pycache__", "build"))
    for name, text in files.items():
        (target / name).write_text(text, encoding="utf-8")


def env_args(environment: str | None) -> list[str]:
    return ["--env", environment] if environment else []


def compile_tree(tree: Path, environment: str | None) -> Path:
    out = f"build-{environment or 'base'}"
    result = run_mlc("compile", MAIN, "-o", out, *env_args(environment), cwd=tree)
    assert result.returncode == 0, f"mlc compile {tree / MAIN} failed:\n{result.stdout}{result.stderr}"
    return tree / out


def build_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def manifest_without_spec_files(data: bytes) -> tuple[dict, list]:
    document = json.loads(data)
    return document, document["spec"].pop("files")


def spec_files_problems(tree: Path, spec_files: list) -> list[str]:
    """The manifest's `spec.files` lists the tree's spec files with the sha256 of their text."""
    problems = []
    for entry in spec_files:
        path = tree / entry["path"]
        actual = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        if actual != entry["sha256"]:
            problems.append(f"manifest spec.files: {entry['path']} sha256 {entry['sha256']} != file's {actual}")
    return problems


def build_differences(base: Path, head: Path, head_tree: Path) -> list[str]:
    """What differs between two build folders (manifest `spec.files` checked on its own)."""
    a, b = build_files(base), build_files(head)
    problems = [f"only in the base build: {p}" for p in sorted(set(a) - set(b))]
    problems += [f"only in the rewrite's build: {p}" for p in sorted(set(b) - set(a))]
    for path in sorted(set(a) & set(b)):
        left, right = a[path], b[path]
        if path == "manifest.json":
            (left, _), (right, spec_files) = manifest_without_spec_files(left), manifest_without_spec_files(right)
            problems += spec_files_problems(head_tree, spec_files)
            left, right = (json.dumps(x, indent=2).encode() for x in (left, right))
        if left != right:
            problems.append(f"{path} differs:\n" + first_diff_lines(left, right, path))
    return problems


def first_diff_lines(left: bytes, right: bytes, path: str, limit: int = 20) -> str:
    diff = difflib.unified_diff(left.decode(errors="replace").splitlines(), right.decode(errors="replace").splitlines(),
                                f"base/{path}", f"rewrite/{path}", lineterm="", n=1)
    return "\n".join(list(diff)[:limit])


def diff_problems(root: Path, base: str, head: str, environment: str | None) -> list[str]:
    result = run_mlc("diff", f"{base}/{MAIN}", f"{head}/{MAIN}", "--format", "json", *env_args(environment), cwd=root)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [f"mlc diff exit {result.returncode}, no JSON:\n{result.stdout}{result.stderr}"]
    problems = [] if result.returncode == 0 else [f"mlc diff exit {result.returncode}"]
    problems += [f"mlc diff {key}: {len(report.get(key) or [])} entries"
                 for key in ("changes", "impacts", "artifacts", "problems") if report.get(key) != []]
    if problems:
        text = run_mlc("diff", f"{base}/{MAIN}", f"{head}/{MAIN}", "--format", "text", *env_args(environment), cwd=root)
        problems.append("mlc diff --format text:\n" + text.stdout + text.stderr)
    return problems


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("rewrites")
    write_tree(root / "base", {})
    return root


@pytest.fixture(scope="module")
def base_builds(workspace):
    """The original spec's build folder per environment, compiled once."""
    cache: dict[str | None, Path] = {}

    def build(environment: str | None) -> Path:
        if environment not in cache:
            cache[environment] = compile_tree(workspace / "base", environment)
        return cache[environment]
    return build


def check_rewrite(workspace: Path, base_builds, rewrite: Rewrite, name: str) -> tuple[list[str], list[str]]:
    """(diff problems, build problems) of a rewrite written to workspace/name."""
    tree = workspace / name
    write_tree(tree, rewrite.files)
    diff = diff_problems(workspace, "base", name, rewrite.environment)
    builds = build_differences(base_builds(rewrite.environment), compile_tree(tree, rewrite.environment), tree)
    return diff, builds


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("seed", SEEDS)
def test_meaning_preserving_rewrite_changes_nothing(workspace, base_builds, seed):
    rewrite = make_rewrite(seed)
    diff, builds = check_rewrite(workspace, base_builds, rewrite, f"seed-{seed}")
    problems = diff + builds
    assert not problems, (f"{rewrite.describe()}\nrewritten files: {workspace / f'seed-{seed}'}\n\n"
                          + "\n".join(problems))


def widen_city_hash_bucket(docs: dict) -> None:
    features = docs[MAIN]["preprocess"]["features"]
    assert features["city_id"] == "hash_bucket(city, 64)"
    features["city_id"] = "hash_bucket(city, 65)"


def swap_experiment_variants(docs: dict) -> None:
    experiment = docs[MAIN]["experiments"]["layers"]["eta_model"]["experiments"]["dnn_vs_wide_deep"]
    experiment["variants"] = dict(reversed(list(experiment["variants"].items())))


@pytest.mark.parametrize("mutate", [widen_city_hash_bucket, swap_experiment_variants], ids=lambda f: f.__name__)
def test_negative_control_meaning_change_is_caught(workspace, base_builds, mutate):
    """The property's checks can fail: a rewrite that changes the meaning fails both."""
    rewrite = make_rewrite(SEEDS[0], mutate)
    diff, builds = check_rewrite(workspace, base_builds, rewrite, f"control-{mutate.__name__}")
    assert diff, f"mlc diff saw no change for {mutate.__name__}\n{rewrite.describe()}"
    assert any(p.startswith("mlc diff exit") for p in diff), diff
    assert builds, f"the builds are identical despite {mutate.__name__}\n{rewrite.describe()}"
