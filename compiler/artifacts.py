"""The artifact tree: every backend's files plus ``manifest.json``.

Rules: paths are relative POSIX paths, unique across backends; every text file ends with
exactly one newline; the manifest lists the sha256 of each file, the spec hash and the mlc
version. No timestamps, hostnames or absolute paths.
"""

from __future__ import annotations

import hashlib
import json
import posixpath

from mlc.core.diagnostics import Diagnostic
from mlc.core.ir import IR
from mlc.compiler.pipeline import Build, relative_to_spec
from mlc.core.errors import MlcError
from mlc.backends import BACKENDS, load
from mlc import __version__

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


class ArtifactError(MlcError):
    code = "E6003"

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


def sha256(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def normalise(text: str) -> str:
    return text.rstrip("\n") + "\n"


def emit_all(ir: IR) -> dict[str, str]:
    files: dict[str, str] = {}
    owners: dict[str, str] = {}
    problems = []
    for name, module in BACKENDS:
        for path, text in load(name, module)(ir).items():
            clean = posixpath.normpath(path)
            if clean.startswith("..") or posixpath.isabs(clean) or clean == MANIFEST:
                problems.append(Diagnostic("E6003", f"backend `{name}` emitted an invalid path `{path}`"))
                continue
            if clean in owners:
                problems.append(Diagnostic("E6003", f"backends `{owners[clean]}` and `{name}` both emit `{clean}`"))
                continue
            owners[clean] = name
            files[clean] = normalise(text)
    if problems:
        raise ArtifactError(problems)
    return files


def manifest(build: Build, files: dict[str, str]) -> str:
    spec_files = []
    for shown in build.files:
        text = build.sources.text(shown) or ""
        spec_files.append({"path": relative_to_spec(shown, build.spec_path), "sha256": sha256(text)})
    document = {
        "manifest_version": MANIFEST_VERSION,
        "mlc_version": __version__,
        "spec": {
            "name": build.ir.name,
            "environment": build.environment,
            "sha256": build.spec_sha256(),
            "files": spec_files,
        },
        "mldl_version": build.ir.mldl_version,
        "files": {path: sha256(files[path]) for path in sorted(files)},
    }
    return json.dumps(document, indent=2) + "\n"


def artifact_tree(build: Build) -> dict[str, str]:
    """All files of a successful build, manifest included, sorted by path."""
    files = emit_all(build.ir)
    files[MANIFEST] = manifest(build, files)
    return dict(sorted(files.items()))
