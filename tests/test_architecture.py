"""Architecture contract: import directions between the layers of mlc, checked statically.

Nothing of mlc is imported here: every module of the package is parsed with `ast`, and the rules
below are checked on the resulting import graph. The layering (lowest first) is

    core  <  dsl, schemas  <  compiler, backends  <  runtime  <  review, app  <  cli

with these rules (see docs / issue 16):

* (a) layers: core imports nothing of mlc (the root `mlc`, for `__version__`, is allowed
  everywhere); dsl and schemas import only core; compiler never imports runtime, app, cli or
  review; backends never import runtime, compiler or each other (`backends/templating.py` and
  `backends/__init__.py` are shared); runtime never imports compiler, review, app or cli; review
  never imports app or cli; app never imports cli.
* (b) no import cycle between modules through module-level imports.
* (c) a function-level (lazy) import of an mlc module is allowed only when that module pulls a
  heavy third-party library at import time (through its module-level imports, transitively,
  parent packages included).
* (d) no module imports another module's private (`_x`) name.
* (e) every `from mlc.X import a` / `import mlc.X` of the generated files under
  tests/golden/trees names an existing module exposing those names: the stable surface of
  generated code.

Each rule has a negative control that feeds it a small fake graph violating it.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKIPPED = {"tests", "examples", "bench", "scripts", "build", "docs", ".venv", "__pycache__", "mlc.egg-info"}
HEAVY = frozenset({
    "numpy", "pandas", "pyspark", "tensorflow", "keras", "pyarrow", "redis", "tritonclient", "onnx",
    "onnxruntime", "horovod", "tf2onnx", "prometheus_client", "kubernetes", "jsonschema",
    # Not heavy by size, but each costs start-up time that `mlc --help` must not pay (a test,
    # tests/test_packaging.py, keeps --help free of the compiler): the spec models (pydantic),
    # YAML, templates and terminal rendering. And Lark: importing mlc.dsl stays cheap, the
    # parser is built on the first parse.
    "pydantic", "yaml", "jinja2", "rich", "lark",
})

# package -> packages it must not import (a package is the first component below `mlc`)
FORBIDDEN = {
    "compiler": {"runtime", "app", "cli", "review"},
    "runtime": {"compiler", "review", "app", "cli"},
    "review": {"app", "cli"},
    "app": {"cli"},
}
ONLY = {"core": set(), "dsl": {"core"}, "schemas": {"core"}}  # package -> the only packages it may import


@dataclasses.dataclass(frozen=True)
class Import:
    target: str           # the module imported (the most specific mlc module or third-party name)
    names: tuple          # names taken by `from target import ...` (empty for `import target`)
    line: int
    toplevel: bool        # executed at import time of the importing module


@dataclasses.dataclass
class Module:
    name: str
    path: str
    imports: list
    defined: set          # names bound at module level (for rule (e))
    is_package: bool = False


# ---------------------------------------------------------------------------------------------
# scanning


def module_name(path: Path, root: Path) -> str:
    parts = ("mlc",) + path.relative_to(root).with_suffix("").parts
    name = ".".join(parts)
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def package_files(root: Path = REPO) -> dict[str, Path]:
    files = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if set(rel.parts[:-1]) & SKIPPED or rel.parts[0] in SKIPPED or any(p.startswith(".") for p in rel.parts):
            continue
        files[module_name(path, root)] = path
    return files


def _is_type_checking(test: ast.expr) -> bool:
    return "TYPE_CHECKING" in ast.dump(test)


def _bound_names(node: ast.AST) -> set[str]:
    names = set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names.add(node.name)
    elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name):
                    names.add(sub.id)
    elif isinstance(node, ast.Import):
        names.update(a.asname or a.name.split(".")[0] for a in node.names)
    elif isinstance(node, ast.ImportFrom):
        names.update(a.asname or a.name for a in node.names)
    return names


def parse_module(name: str, source: str, *, is_package: bool, known: set[str], path: str = "") -> Module:
    tree = ast.parse(source)
    module = Module(name, path or name, [], set(), is_package)

    def resolve(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = name.split(".")
        if not is_package:
            base = base[:-1]
        base = base[: len(base) - node.level + 1]
        return ".".join(base + ([node.module] if node.module else []))

    def visit(body, toplevel: bool, bind: bool):
        for node in body:
            if bind:
                module.defined |= _bound_names(node)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    module.imports.append(Import(alias.name, (), node.lineno, toplevel))
            elif isinstance(node, ast.ImportFrom):
                base = resolve(node)
                plain = tuple(a.name for a in node.names if f"{base}.{a.name}" not in known)
                for alias in node.names:
                    if f"{base}.{alias.name}" in known:
                        module.imports.append(Import(f"{base}.{alias.name}", (), node.lineno, toplevel))
                if plain or not node.names:
                    module.imports.append(Import(base, plain, node.lineno, toplevel))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(node.body if isinstance(node.body, list) else [], False, False)
            elif isinstance(node, ast.ClassDef):
                visit(node.body, toplevel, False)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                continue  # typing only: never executed
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        visit([c for c in children if isinstance(c, ast.AST)], toplevel, bind)

    visit(tree.body, True, True)
    return module


def scan(root: Path = REPO) -> dict[str, Module]:
    files = package_files(root)
    known = set(files)
    return {
        name: parse_module(name, path.read_text(), is_package=path.name == "__init__.py", known=known,
                           path=str(path.relative_to(root)))
        for name, path in files.items()
    }


def graph_from_sources(sources: dict[str, str]) -> dict[str, Module]:
    """A fake package for the negative controls: {module name: source}; names ending in `/` are packages."""
    names = {n.rstrip("/") for n in sources}
    return {
        n.rstrip("/"): parse_module(n.rstrip("/"), src, is_package=n.endswith("/"), known=names)
        for n, src in sources.items()
    }


# ---------------------------------------------------------------------------------------------
# rules


def package_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "mlc":
        return ""
    return "cli" if parts[1] == "__main__" else parts[1]


def _mlc(target: str) -> bool:
    return target == "mlc" or target.startswith("mlc.")


def shared_backend_module(graph: dict[str, Module], name: str) -> bool:
    """``mlc.backends`` and the modules directly in it (``templating``, ``k8s_layout``...) are
    shared by the backends; a backend is a package below it (``mlc.backends.spark``)."""
    if name == "mlc.backends":
        return True
    return name.count(".") == 2 and name in graph and not graph[name].is_package


def layer_violations(graph: dict[str, Module]) -> list[str]:
    found = []
    for module in graph.values():
        src = package_of(module.name)
        for imp in module.imports:
            if not _mlc(imp.target) or imp.target == "mlc":
                continue
            dst = package_of(imp.target)
            if dst == src and src != "backends":
                continue
            why = None
            if src in ONLY and dst != src and dst not in ONLY[src]:
                why = f"{src} may import only {sorted(ONLY[src]) or 'nothing of mlc'}"
            elif dst in FORBIDDEN.get(src, ()):
                why = f"{src} must not import {dst}"
            elif src == "backends":
                if dst in {"runtime", "compiler", "app", "cli", "review"}:
                    why = f"backends must not import {dst}"
                elif dst == "backends" and not shared_backend_module(graph, imp.target):
                    if imp.target.split(".")[:3] != module.name.split(".")[:3]:
                        why = "a backend must not import another backend"
            if why:
                found.append(f"{module.path}:{imp.line}: {module.name} imports {imp.target} ({why})")
    return found


def module_edges(graph: dict[str, Module]) -> dict[str, set[str]]:
    edges = {name: set() for name in graph}
    for module in graph.values():
        for imp in module.imports:
            if imp.toplevel and imp.target in graph and imp.target != module.name:
                edges[module.name].add(imp.target)
    return edges


def cycles(graph: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as a list of modules."""
    edges = module_edges(graph)
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def strongconnect(v):
        work = [(v, iter(sorted(edges[v])))]
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on_stack.add(v)
        while work:
            node, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter[0]; counter[0] += 1
                    stack.append(w); on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        w = stack.pop(); on_stack.discard(w); component.append(w)
                        if w == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    return found


def cycle_violations(graph: dict[str, Module]) -> list[str]:
    edges = module_edges(graph)
    out = []
    for component in cycles(graph):
        members = set(component)
        links = [f"{a} -> {b}" for a in component for b in sorted(edges[a] & members)]
        out.append("import cycle among " + ", ".join(component) + ": " + "; ".join(links))
    return out


def heavy_libraries(graph: dict[str, Module], module: str) -> set[str]:
    """Heavy third-party libraries imported when `module` is imported (module-level imports, parents too)."""
    seen, heavy, todo = set(), set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in graph)
        if name not in graph:
            continue
        for imp in graph[name].imports:
            if not imp.toplevel:
                continue
            if imp.target.split(".")[0] in HEAVY:
                heavy.add(imp.target.split(".")[0])
            elif imp.target in graph:
                todo.append(imp.target)
            elif _mlc(imp.target):  # a parent package of an unknown name
                todo.extend(p for p in (imp.target.rsplit(".", 1)[0],) if p in graph)
    return heavy


def lazy_import_violations(graph: dict[str, Module]) -> list[str]:
    found, cache = [], {}
    for module in graph.values():
        for imp in module.imports:
            if imp.toplevel or not _mlc(imp.target) or imp.target == module.name:
                continue
            if imp.target not in cache:
                cache[imp.target] = heavy_libraries(graph, imp.target)
            if not cache[imp.target]:
                found.append(f"{module.path}:{imp.line}: {module.name} imports {imp.target} inside a function, "
                             "but it pulls no heavy library: import it at module level")
    return found


def private_import_violations(graph: dict[str, Module]) -> list[str]:
    found = []
    for module in graph.values():
        for imp in module.imports:
            if not _mlc(imp.target) or imp.target == module.name:
                continue
            private = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
            if private:
                found.append(f"{module.path}:{imp.line}: {module.name} imports private {', '.join(private)} "
                             f"from {imp.target}")
    return found


def generated_import_violations(graph: dict[str, Module], generated: dict[str, str]) -> list[str]:
    """`generated`: {file label: python source} of generated code."""
    found = []
    for label, source in sorted(generated.items()):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if _mlc(alias.name) and alias.name not in graph:
                        found.append(f"{label}:{node.lineno}: import {alias.name}: no such module")
            elif isinstance(node, ast.ImportFrom) and node.module and _mlc(node.module) and not node.level:
                target = graph.get(node.module)
                if target is None:
                    found.append(f"{label}:{node.lineno}: from {node.module}: no such module")
                    continue
                for alias in node.names:
                    if alias.name not in target.defined and f"{node.module}.{alias.name}" not in graph:
                        found.append(f"{label}:{node.lineno}: {node.module} has no {alias.name}")
    return found


def generated_sources() -> dict[str, str]:
    trees = REPO / "tests" / "golden" / "trees"
    return {str(p.relative_to(REPO)): p.read_text() for p in sorted(trees.rglob("*.py"))}


# ---------------------------------------------------------------------------------------------
# the contract


def _report(title: str, violations: list[str]) -> str:
    return f"{len(violations)} {title}:\n  " + "\n  ".join(violations)


_GRAPH: dict[str, Module] = {}


def graph() -> dict[str, Module]:
    if not _GRAPH:
        _GRAPH.update(scan())
    return _GRAPH


def test_the_scan_sees_the_package():
    g = graph()
    for name in ("mlc", "mlc.core.ir", "mlc.compiler.pipeline", "mlc.runtime.feature_job", "mlc.cli.main"):
        assert name in g, name
    assert not any(package_of(n) in SKIPPED for n in g)


def test_layers():
    violations = layer_violations(graph())
    assert not violations, _report("imports against the layering", violations)


def test_no_import_cycles():
    violations = cycle_violations(graph())
    assert not violations, _report("import cycles", violations)


def test_lazy_imports_only_for_heavy_modules():
    violations = lazy_import_violations(graph())
    assert not violations, _report("function-level imports of light mlc modules", violations)


def test_no_private_imports_across_modules():
    violations = private_import_violations(graph())
    assert not violations, _report("imports of private names", violations)


def test_generated_code_imports_exist():
    sources = generated_sources()
    assert sources, "no generated python under tests/golden/trees"
    violations = generated_import_violations(graph(), sources)
    assert not violations, _report("imports of generated code that do not resolve", violations)


# ---------------------------------------------------------------------------------------------
# negative controls: each rule fails on a graph that breaks it


def test_control_layers():
    g = graph_from_sources({
        "mlc/": "__version__ = '0'",
        "mlc.core/": "",
        "mlc.core.ir": "from mlc import __version__\nfrom mlc.dsl import ast",
        "mlc.dsl/": "",
        "mlc.dsl.ast": "from mlc.core import ir\nfrom mlc.compiler import lower",
        "mlc.schemas/": "",
        "mlc.schemas.gen": "from mlc.core.ir import X\nimport mlc.backends.templating",
        "mlc.compiler/": "",
        "mlc.compiler.lower": "from mlc.core import ir\ndef f():\n    from mlc.runtime import ops",
        "mlc.backends/": "",
        "mlc.backends.templating": "",
        "mlc.backends.k8s_layout": "from mlc.core import ir",
        "mlc.backends.spark/": "",
        "mlc.backends.spark.emit": "from mlc.backends import templating, k8s_layout\nfrom mlc.backends.spark import x\n"
                                   "from mlc.backends.train.emit import T\nfrom mlc.compiler.checks import c\n"
                                   "from mlc.runtime.ops import A",
        "mlc.backends.train/": "",
        "mlc.backends.train.emit": "T = 1",
        "mlc.runtime/": "",
        "mlc.runtime.ops": "from mlc.compiler.pipeline import build\nfrom mlc.backends.train.emit import T",
        "mlc.review/": "",
        "mlc.review.run": "import mlc.cli.main\nfrom mlc.runtime import ops",
        "mlc.app/": "",
        "mlc.app.x": "from mlc.cli import main\nfrom mlc.review import run",
        "mlc.cli/": "",
        "mlc.cli.main": "from mlc.app import x\nfrom mlc.review import run",
    })
    found = "\n".join(layer_violations(g))
    expected = [
        "mlc.core.ir imports mlc.dsl", "mlc.dsl.ast imports mlc.compiler", "mlc.schemas.gen imports mlc.backends",
        "mlc.compiler.lower imports mlc.runtime", "mlc.backends.spark.emit imports mlc.backends.train.emit",
        "mlc.backends.spark.emit imports mlc.compiler.checks", "mlc.backends.spark.emit imports mlc.runtime.ops",
        "mlc.runtime.ops imports mlc.compiler.pipeline", "mlc.review.run imports mlc.cli.main",
        "mlc.app.x imports mlc.cli",
    ]
    for line in expected:
        assert line in found, (line, found)
    assert len(layer_violations(g)) == len(expected), found


def test_control_cycles():
    g = graph_from_sources({
        "mlc.a": "import mlc.b",
        "mlc.b": "from mlc.c import x",
        "mlc.c": "from mlc import a\nx = 1",
        "mlc.d": "import mlc.a\ndef f():\n    import mlc.d2",
        "mlc.d2": "import mlc.d",
        "mlc.e": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mlc.f",
        "mlc.f": "import mlc.e",
    })
    assert cycles(g) == [["mlc.a", "mlc.b", "mlc.c"]]
    assert "mlc.a -> mlc.b" in cycle_violations(g)[0]


def test_control_lazy_imports():
    g = graph_from_sources({
        "mlc/": "",
        "mlc.light": "import json",
        "mlc.heavy/": "import numpy",
        "mlc.heavy.sub": "x = 1",
        "mlc.indirect": "from mlc.heavy import sub",
        "mlc.guarded": "try:\n    import pyspark\nexcept ImportError:\n    pyspark = None",
        "mlc.user": "def f():\n    import mlc.light\n    from mlc.heavy.sub import x\n"
                    "    from mlc import indirect\n    from mlc.guarded import pyspark\n"
                    "class K:\n    def m(self):\n        from mlc.light import y",
    })
    found = lazy_import_violations(g)
    assert len(found) == 2 and all("imports mlc.light inside a function" in f for f in found), found
    assert heavy_libraries(g, "mlc.indirect") == {"numpy"}


def test_control_private_names():
    g = graph_from_sources({
        "mlc.a": "def _helper(): pass\n__all__ = []",
        "mlc.b": "from mlc.a import _helper, __all__\ndef f():\n    from mlc.a import _helper as h",
        "mlc.c": "from os import _exit",
    })
    found = private_import_violations(g)
    assert len(found) == 2 and all("private _helper from mlc.a" in f for f in found), found


def test_control_generated_imports():
    g = graph_from_sources({
        "mlc/": "", "mlc.runtime/": "", "mlc.runtime.job": "def main(): pass\nfrom os import path as p",
    })
    found = generated_import_violations(g, {
        "gen.py": "from mlc.runtime.job import main, p, gone\nimport mlc.runtime.job\nimport mlc.runtime.old\n"
                  "from mlc.runtime.moved import main\nfrom mlc.runtime import job",
    })
    assert found == [
        "gen.py:1: mlc.runtime.job has no gone",
        "gen.py:3: import mlc.runtime.old: no such module",
        "gen.py:4: from mlc.runtime.moved: no such module",
    ], found
