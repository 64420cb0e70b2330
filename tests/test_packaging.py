"""Packaging: the wheel installs only `mlc`, and compile stays free of heavy imports."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import EXAMPLES, REPO

HEAVY = ("pyspark", "tensorflow", "kubernetes", "tritonclient", "redis", "numpy", "pandas", "torch")


def test_wheel_installs_only_the_mlc_namespace(tmp_path):
    import shutil

    leftovers = [REPO / "build" / "lib", *(REPO / "build").glob("bdist.*")]
    existed = {p for p in leftovers if p.exists()}
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    for path in [REPO / "build" / "lib", *(REPO / "build").glob("bdist.*")]:
        if path not in existed:
            shutil.rmtree(path, ignore_errors=True)  # setuptools' scratch space, not ours to keep
    assert result.returncode == 0, result.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("mlc-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert top == {"mlc", next(t for t in top if t.endswith(".dist-info"))}
    for generic in ("compiler", "dsl", "schemas", "backends", "runtime", "tests", "examples"):
        assert not any(n.startswith(generic + "/") for n in names), generic
    for required in ("mlc/__init__.py", "mlc/__main__.py", "mlc/cli/main.py", "mlc/dsl/expr.lark",
                     "mlc/schemas/mlc.schema.json", "mlc/schemas/mldl.schema.json", "mlc/backends/mldl/emit.py",
                     "mlc/runtime/__init__.py", "mlc/runtime/online_store/codec.py", "mlc/runtime/numpy_ops/core.py",
                     "mlc/runtime/spark_ops/core.py", "mlc/backends/spark/templates/submit.sh.j2",
                     "mlc/backends/preprocess/templates/preprocess.py.j2"):
        assert required in names, required
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mlc = mlc.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def _imported_modules(*args: str, cwd: Path) -> set[str]:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "mlc", *args], cwd=cwd,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    modules = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    assert modules, "no -X importtime output"
    return modules


def test_compile_and_help_import_no_heavy_library(tmp_path):
    spec = EXAMPLES / "delivery_eta" / "delivery.mlc.yaml"
    for args in (("compile", str(spec), "-o", str(tmp_path / "out")), ("--help",), ("validate", str(spec))):
        modules = _imported_modules(*args, cwd=tmp_path)
        heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
        assert not heavy, f"`mlc {args[0]}` imported {heavy[:5]}"


def test_help_does_not_import_the_compiler(tmp_path):
    modules = _imported_modules("--help", cwd=tmp_path)
    for lazy in ("pydantic", "lark", "yaml", "jinja2", "jsonschema", "rich"):
        assert not any(m.split(".")[0] == lazy for m in modules), lazy


def test_every_package_is_listed_for_the_wheel():
    """A package missing from pyproject's explicit list would be absent from the installed wheel."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    skipped = {"tests", "examples", "bench", "scripts", "build", "docs"}
    found = {"mlc"} | {
        ".".join(("mlc",) + init.parent.relative_to(REPO).parts)
        for init in REPO.rglob("__init__.py")
        if init.parent != REPO and not ({".venv", "__pycache__"} | skipped) & set(init.relative_to(REPO).parts)
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - found == set(), "listed packages without an __init__.py"
