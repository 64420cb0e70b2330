"""Golden artifact trees of the shipped examples: byte for byte, re-parsed, deterministic."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO, compare_golden, run_mlc

GOLDEN = Path(__file__).resolve().parent / "trees"
CASES = {
    "ctr_criteo": ("ctr_criteo/ctr.mlc.yaml", None),
    "ctr_public": ("ctr_public/ctr_public.mlc.yaml", None),
    "delivery_eta": ("delivery_eta/delivery.mlc.yaml", None),
    "delivery_eta-prod": ("delivery_eta/delivery.mlc.yaml", "prod"),
    "delivery_eta-dev": ("delivery_eta/delivery.mlc.yaml", "dev"),
}


def compile_example(spec: str, env: str | None, out: Path, cwd: Path = REPO, hashseed: str = "0") -> dict[str, bytes]:
    args = ["compile", str(EXAMPLES / spec), "-o", str(out)] + (["--env", env] if env else [])
    result = run_mlc(*args, cwd=cwd, env={"PYTHONHASHSEED": hashseed})
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_example_tree_matches_golden(case, tmp_path):
    spec, env = CASES[case]
    files = compile_example(spec, env, tmp_path / "out")
    golden_dir = GOLDEN / case
    listing = "".join(f"{path}\n" for path in files)
    compare_golden(golden_dir / "FILES", listing)
    for path, data in files.items():
        compare_golden(golden_dir / path, data.decode("utf-8"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_example_tree_reparses(case, tmp_path):
    import jsonschema

    spec, env = CASES[case]
    files = compile_example(spec, env, tmp_path / "out")
    manifest = json.loads(files["manifest.json"])
    assert manifest["spec"]["environment"] == env
    assert set(manifest["files"]) == set(files) - {"manifest.json"}
    for path, digest in manifest["files"].items():
        assert hashlib.sha256(files[path]).hexdigest() == digest
    schema = json.loads((REPO / "schemas" / "mldl.schema.json").read_text())
    mldl = json.loads(files["mldl.json"])
    jsonschema.validate(mldl, schema)
    for path, data in files.items():
        text = data.decode("utf-8")
        assert text.endswith("\n") and not text.endswith("\n\n"), path
        if path.endswith(".py"):
            import ast

            ast.parse(text, filename=path)
        # no path of this machine (the repository, the temporary build folder); container paths
        # such as an emptyDir mounted at /tmp are part of the manifests
        assert str(REPO) not in text and str(tmp_path) not in text, f"absolute path in {path}"


def test_compile_is_deterministic_across_hash_seeds_and_cwd(tmp_path):
    spec, env = CASES["delivery_eta-prod"]
    first = compile_example(spec, env, tmp_path / "a", cwd=REPO, hashseed="0")
    (tmp_path / "elsewhere").mkdir()
    second = compile_example(spec, env, tmp_path / "b", cwd=tmp_path / "elsewhere", hashseed="4242")
    third = compile_example(spec, env, tmp_path / "c", cwd=REPO, hashseed="random")
    assert first == second == third
    assert "experiments/config.json" in first  # layers, switchback regions: sorted or declaration order


def test_environments_change_only_what_they_override(tmp_path):
    base = json.loads(compile_example(*CASES["delivery_eta"], tmp_path / "base")["mldl.json"])
    prod = json.loads(compile_example(*CASES["delivery_eta-prod"], tmp_path / "prod")["mldl.json"])
    assert base["derived"] == prod["derived"]
    assert base["deployment"]["namespace"] != prod["deployment"]["namespace"]
    assert [m["training"]["workers"] for m in prod["models"]] == [8, 8]
    assert [s["location"] for s in prod["sources"]] == ["s3a://dw-delivery/dwd/orders/"] * 2
