"""Workflows on the spec alone: validate, compile, the JSON Schemas, the function reference."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from mlc.compiler.experiment_baseline import load_baseline as load
from mlc.core.diagnostics import Diagnostic, DiagnosticBag, Severity, SourceMap
from mlc.dsl.docs import render_markdown, render_text


@dataclass
class Checked:
    """What `validate` found: every diagnostic (sorted), their sources, whether any spec failed."""
    diagnostics: list
    sources: Any
    failed: bool


@dataclass
class Compiled:
    """What `compile` did: its diagnostics, their sources; ``files`` (path -> content) when the
    build was written, else None; ``name`` the application's."""
    diagnostics: list
    sources: Any
    files: dict | None
    name: str | None = None


def load_baseline(path: str) -> tuple[Any, Any]:
    """(baseline, problem): the experiments config to check ramp safety against, or the diagnostic why not."""

    return load(path)


def validate(specs: list[str], env: str | None = None, baseline_path: str | None = None) -> Checked:
    """Every spec built (with ``env``, else the base spec and every environment overlay)."""
    from mlc.compiler.pipeline import build

    bag, sources, failed = DiagnosticBag(), SourceMap(), False
    baseline = None
    if baseline_path is not None:
        baseline, problem = load_baseline(baseline_path)
        if problem is not None:
            return Checked([problem], sources, True)
    for spec in specs:
        base = build(spec, env, baseline)
        runs = [base]
        if env is None and base.failed_stage not in ("load",):
            runs += [build(spec, environment) for environment in base.environments]
        bag.extend(with_environment_notes(runs))
        for run in runs:
            for path in run.files:
                sources.add(path, run.sources.text(path) or "")
            failed = failed or not run.ok
    return Checked(bag.sorted(), sources, failed)


def with_environment_notes(runs: list) -> list:
    """Diagnostics of the base run, then those found only with some environments, each noting
    which environments produce it."""
    base = runs[0]
    seen = set(base.diagnostics)
    only_in: dict = {}
    for run in runs[1:]:
        for diagnostic in run.diagnostics:
            if diagnostic not in seen:
                only_in.setdefault(diagnostic, []).append(run.environment)
    noted = [dataclasses.replace(d, notes=d.notes + (_environment_note(envs),)) for d, envs in only_in.items()]
    return list(base.diagnostics) + noted


def _environment_note(envs: list[str]) -> str:
    names = ", ".join(f"`{env}`" for env in envs)
    return f"only with environment{'s' if len(envs) > 1 else ''} {names} (`--env {envs[0]}`)"


def compile_spec(spec: str, out: str, env: str | None = None, baseline_path: str | None = None) -> Compiled:
    """The spec compiled into ``out`` (atomically); the baseline is ``baseline_path``, else the
    previous build's experiments config in ``out`` when there is one (a damaged one: a warning)."""
    from mlc.compiler.pipeline import build

    baseline, problems = None, []
    if baseline_path is not None:
        baseline, problem = load_baseline(baseline_path)
        if problem is not None:
            return Compiled([problem], SourceMap(), None)
    elif os.path.isfile(os.path.join(out, "experiments", "config.json")):
        baseline, problem = load_baseline(out)
        if problem is not None:  # an old or damaged build must not block the next one
            problems.append(dataclasses.replace(problem, severity=Severity.WARNING,
                                                notes=("compiling without a baseline",)))
    result = build(spec, env, baseline)
    diagnostics = problems + result.diagnostics
    files = write_build(result, out, diagnostics) if result.ok else None
    return Compiled(diagnostics, result.sources, files, result.ir.name if files is not None else None)


def write_build(result: Any, out: str, diagnostics: list) -> dict | None:
    """The build's files written to ``out``; None, with the reason appended to ``diagnostics``,
    when they cannot be emitted or written."""
    from mlc.compiler.artifacts import ArtifactError, artifact_tree
    from mlc.compiler.writer import WriteRefused, write_tree

    try:
        files = artifact_tree(result)
        write_tree(files, out)
    except ArtifactError as exc:
        diagnostics.extend(exc.diagnostics)
    except WriteRefused as refused:
        diagnostics.append(refused.diagnostic())
    except OSError as exc:
        diagnostics.append(Diagnostic("E6002", f"cannot write the build: {exc}"))
    else:
        return files
    return None


def schema_text(mldl: bool = False) -> str:
    """The JSON Schema of specs (or of mldl.json)."""
    from mlc.schemas import jsonschema_gen as gen

    return gen.render(gen.mldl_schema() if mldl else gen.spec_schema())


def write_schemas() -> None:
    """Rewrite the committed copies of the schemas under schemas/."""
    from mlc.schemas import jsonschema_gen as gen

    folder = os.path.dirname(os.path.abspath(gen.__file__))
    for name, schema in gen.committed().items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
            handle.write(gen.render(schema))


def functions_text(markdown: bool = False) -> str:
    """The expression function reference."""

    return render_markdown() if markdown else render_text()
