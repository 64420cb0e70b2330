"""The one place that writes artifacts to disk.

``write_tree`` writes into a fresh temporary folder next to the target, then swaps it into
place; a failure at any point leaves the previous build untouched. A target that exists but is
not an mlc build (no ``manifest.json``) and is not empty is never replaced.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from mlc.compiler.artifacts import MANIFEST


class WriteRefused(Exception):
    pass


def write_tree(files: dict[str, str], out_dir: str) -> None:
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            raise WriteRefused(f"{out_dir} exists and is not a folder")
        if os.listdir(out_dir) and not os.path.exists(os.path.join(out_dir, MANIFEST)):
            raise WriteRefused(f"{out_dir} is not empty and holds no mlc build ({MANIFEST}); refusing to replace it")
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".mlc-build-", dir=parent)
    try:
        for path, text in files.items():
            target = os.path.join(staging, *path.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
        _swap(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap(staging: str, out_dir: str) -> None:
    if not os.path.exists(out_dir):
        os.rename(staging, out_dir)
        return
    retired = staging + ".old"
    os.rename(out_dir, retired)
    try:
        os.rename(staging, out_dir)
    except BaseException:
        os.rename(retired, out_dir)
        raise
    shutil.rmtree(retired, ignore_errors=True)
