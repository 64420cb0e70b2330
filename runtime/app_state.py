"""Where an application keeps its local state: ``.mlc/<app>/`` beside the spec, one folder per
application (the spec's ``name``), so two specs in one folder never share a run, a store, a
registry or a deployment.

    app_dir("apps/a.mlc.yaml")      # /abs/apps/.mlc/a_app        (the spec's `name`: a_app)
    run_dir("apps/a.mlc.yaml")      # /abs/apps/.mlc/a_app/data   (`mlc run`'s default --output)

Layout of ``.mlc/<app>/``: ``data/`` (the run folder: features, training sets, ``mldl.json``,
``models/``, ``serve/``), ``online.sqlite`` (the default online store), ``registry.sqlite`` (the
default model registry unless ``$MLC_REGISTRY``), ``deploy/`` (``state.json``, ``logs/``,
``tritons/``, ``work/`` of ``mlc deploy --target local``), ``logs/features/`` (the local gateway's
feature log, docs/feature-log.md).

**Older layout.** mlc before this one kept ONE ``.mlc/`` per folder (``.mlc/data/``,
``.mlc/online.sqlite``, ``.mlc/registry.sqlite``, ``.mlc/deploy/``), shared by every spec in it.
It is ignored, never migrated (which spec wrote what cannot be told apart reliably), with one
note per process on stderr naming what was found; ``mlc stop SPEC`` still stops the services an
old ``.mlc/deploy/state.json`` recorded for this spec (same spec file or app name).
"""

from __future__ import annotations

import os
import re
import sys

from mlc.core.diagnostics import SourceMap
from mlc.schemas.compose import compose
from mlc.schemas.yamlpos import LScalar

STATE_DIR = ".mlc"
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")            # the spec name rule (mlc.core.names)
LEGACY_ENTRIES = ("data", "online.sqlite", "registry.sqlite", os.path.join("deploy", "state.json"))
_noted: set[str] = set()


def spec_folder(spec_path: str) -> str:
    return os.path.dirname(os.path.abspath(spec_path))


def app_name(spec_path: str) -> str:
    """The spec's ``name`` (top-level or from an include; environments do not change the folder).
    A spec that cannot be read, or whose name is not a valid name, falls back to the file name
    without its extensions (``a.mlc.yaml`` -> ``a``), so a broken spec still gets its own folder."""
    try:
        root = compose(spec_path, SourceMap()).root
        node = root.get("name") if root is not None else None
        if isinstance(node, LScalar) and isinstance(node.value, str) and _NAME.match(node.value):
            return node.value
    except Exception:  # noqa: BLE001 - reading is best effort; the commands report spec errors
        pass
    stem = os.path.basename(spec_path).split(".")[0].lower()
    stem = re.sub(r"[^a-z0-9_]", "_", stem)
    return stem if _NAME.match(stem) else f"app_{stem}"


def app_dir(spec_path: str, app: str | None = None) -> str:
    """``<spec folder>/.mlc/<app>`` (absolute); ``app`` defaults to :func:`app_name`."""
    app = app or app_name(spec_path)
    note_legacy(spec_path)
    return os.path.join(spec_folder(spec_path), STATE_DIR, app)


def run_dir(spec_path: str, app: str | None = None) -> str:
    """The default run folder of ``mlc run`` / ``serve`` / ``deploy``: ``.mlc/<app>/data``."""
    return os.path.join(app_dir(spec_path, app), "data")


def legacy_entries(spec_path: str) -> list[str]:
    """What the older, shared layout left in ``<spec folder>/.mlc/`` (relative names)."""
    root = os.path.join(spec_folder(spec_path), STATE_DIR)
    found = []
    for entry in LEGACY_ENTRIES:
        path = os.path.join(root, entry)
        if entry == "data":            # the old run folder; an app named `data` has no mldl.json/training there
            if not any(os.path.exists(os.path.join(path, n)) for n in ("mldl.json", "training", "models")):
                continue
        elif not os.path.exists(path):
            continue
        found.append(entry)
    return found


def legacy_state_path(spec_path: str) -> str:
    """``.mlc/deploy/state.json`` of the older layout (it may record this spec's services)."""
    return os.path.join(spec_folder(spec_path), STATE_DIR, "deploy", "state.json")


def note_legacy(spec_path: str) -> None:
    """Say once per process and folder that an older shared ``.mlc/`` is ignored."""
    folder = spec_folder(spec_path)
    if folder in _noted:
        return
    _noted.add(folder)
    found = legacy_entries(spec_path)
    if found:
        shown = ", ".join(f".mlc/{e}" for e in found)
        sys.stderr.write(f"note: {shown} in {folder} are from an older mlc, whose state every spec of the folder "
                         f"shared; they are ignored: each application now keeps its own under .mlc/<name>/. Move "
                         f"what you want to keep there (e.g. .mlc/data -> .mlc/<name>/data) or delete them; "
                         f"`mlc stop SPEC` still stops the services an old .mlc/deploy/state.json recorded.\n")


def feature_log_dir(spec_path: str, app: str | None = None) -> str:
    """``.mlc/<app>/logs/features``: where the local gateway writes its feature log (rotated
    ``features.jsonl``) and ``mlc consistency`` reads it by default."""
    return os.path.join(app_dir(spec_path, app), "logs", "features")
