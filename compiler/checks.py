"""Semantic checks over a validated spec: names, references between sections, sharding,
experiment allocation, training settings. Each problem has its own error code (see
``mlc.core.codes``); all problems are reported, none stops the others.

Expression typechecking lives in ``mlc.compiler.expressions``; this module handles what can be
decided from names and numbers alone.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

from mlc.core.ir import output_name
from mlc.core.names import NAME_RULE, duration_seconds, name_problem, parse_timestamp, suggest_name
from mlc.compiler.reporter import Reporter
from mlc.core.suggest import did_you_mean
from mlc.schemas import spec as S
from mlc.schemas.quantities import quantity_value
from mlc.compiler.experiment_checks import check_experiments
from mlc.compiler.facts import default_fits, served_models
from mlc.dsl import parse_dtype

_NUMERIC = {"int64", "float64", "bool"}


def check_spec(spec: S.Spec, report: Reporter, dtypes: dict[str, str],
               id_space: Callable[[str], int | None] = lambda name: None) -> None:
    """``dtypes`` maps preprocess inputs and derived features to their dtype names (derived
    features may be missing when their expression did not typecheck); ``id_space`` gives the
    number of ids a sparse feature can take (None when unknown)."""
    _check_names(spec, report)
    _check_sources(spec, report)
    _check_feature_groups(spec, report)
    _check_inputs(spec, report)
    _check_models(spec, report, dtypes, id_space)
    _check_deployment(spec, report)

    check_experiments(spec, report)


# ---------------------------------------------------------------------- names


def _named_paths(spec: S.Spec) -> Iterable[tuple[str, tuple]]:
    sections = {
        "entity": ("entities", spec.entities), "source": ("sources", spec.sources),
        "feature group": ("feature_groups", spec.feature_groups), "model": ("models", spec.models),
    }
    for what, (section, entries) in sections.items():
        for name in entries:
            yield what, (section, name)
    for group_name, group in spec.feature_groups.items():
        for feature in group.features:
            yield "feature", ("feature_groups", group_name, "features", feature)
    for name in spec.preprocess.inputs:
        yield "input", ("preprocess", "inputs", name)
    for name in spec.preprocess.features:
        yield "derived feature", ("preprocess", "features", name)
    if spec.deployment.sharding:
        for name in spec.deployment.sharding.shards:
            yield "shard", ("deployment", "sharding", "shards", name)
    for layer_name, layer in spec.experiments.layers.items():
        yield "layer", ("experiments", "layers", layer_name)
        for exp_name, experiment in layer.experiments.items():
            yield "experiment", ("experiments", "layers", layer_name, "experiments", exp_name)
            for variant in experiment.variants:
                yield "variant", ("experiments", "layers", layer_name, "experiments", exp_name, "variants", variant)
    for sb_name, switchback in spec.experiments.switchbacks.items():
        yield "switchback", ("experiments", "switchbacks", sb_name)
        for variant in switchback.variants:
            yield "variant", ("experiments", "switchbacks", sb_name, "variants", variant)


def _check_names(spec: S.Spec, report: Reporter) -> None:
    problem = name_problem(spec.name)
    if problem:
        report.error("E5001", f"spec name `{spec.name}` {problem}", ("name",),
                     hint=f"try `{suggest_name(spec.name)}`; names are {NAME_RULE}")
    for what, path in _named_paths(spec):
        name = path[-1]
        problem = name_problem(name)
        if problem:
            report.error("E5001", f"{what} name `{name}` {problem}", path, at_key=True,
                         hint=f"try `{suggest_name(name)}`; names are {NAME_RULE}")
    clash = set(spec.preprocess.inputs) & set(spec.preprocess.features)
    for name in sorted(clash):
        report.error("E5021", f"`{name}` is both a preprocess input and a derived feature",
                     ("preprocess", "features", name), at_key=True, hint="rename the derived feature")
    _check_outputs_unique(spec, report)


def _check_outputs_unique(spec: S.Spec, report: Reporter) -> None:
    for group_name, group in spec.feature_groups.items():
        seen: dict[str, str] = {}
        for feature in group.features:
            for window in group.windows:
                output = output_name(feature, window)
                if output in seen:
                    report.error("E5021", f"feature group `{group_name}` produces `{output}` twice "
                                 f"(from `{seen[output]}` and `{feature}`)",
                                 ("feature_groups", group_name, "features", feature), at_key=True,
                                 hint="outputs are named `<feature>_<window>`; rename one feature")
                seen[output] = feature


# -------------------------------------------------------------------- sources


def _check_sources(spec: S.Spec, report: Reporter) -> None:
    for name, source in spec.sources.items():
        for column, dtype in (source.column_dtypes() or {}).items():
            try:
                parse_dtype(dtype)
            except ValueError:
                report.error("E5011", f"unknown dtype `{dtype}` for column `{column}` of source `{name}`",
                             ("sources", name, "columns", column),
                             hint=did_you_mean(dtype, ["bool", "int64", "float64", "string", "timestamp"], "dtypes"))
        dtypes = source.column_dtypes()
        if dtypes is not None and source.event_time is not None:
            if source.event_time not in dtypes:
                report.error("E5003", f"event_time column `{source.event_time}` is not declared in source `{name}`",
                             ("sources", name, "event_time"), hint=did_you_mean(source.event_time, dtypes, "columns"))
            elif dtypes[source.event_time] not in ("timestamp", "int64"):
                report.error("E5023", f"event_time column `{source.event_time}` must be a timestamp or int64 "
                             f"(unix seconds), not {dtypes[source.event_time]}",
                             ("sources", name, "columns", source.event_time),
                             hint="time in another encoding: `{dtype: timestamp, format: yyMMddHH}`")


def _require_columns(spec: S.Spec, report: Reporter, source_name: str, user: str, path: tuple) -> dict[str, str] | None:
    source = spec.sources.get(source_name)
    if source is None:
        report.error("E5002", f"{user} uses unknown source `{source_name}`", path,
                     hint=did_you_mean(source_name, spec.sources, "sources"))
        return None
    if source.columns is None:
        report.error("E5003", f"source `{source_name}` must declare `columns` because {user} reads it",
                     ("sources", source_name), at_key=True,
                     hint="add `columns: {name: dtype, ...}` listing at least the columns mlc reads")
        return None
    return source.column_dtypes()


# ------------------------------------------------------------- feature groups


def _check_feature_groups(spec: S.Spec, report: Reporter) -> None:
    for name, group in spec.feature_groups.items():
        base = ("feature_groups", name)
        entity = spec.entities.get(group.entity)
        if entity is None:
            report.error("E5002", f"feature group `{name}` uses unknown entity `{group.entity}`", base + ("entity",),
                         hint=did_you_mean(group.entity, spec.entities, "entities"))
        columns = _require_columns(spec, report, group.source, f"feature group `{name}`", base + ("source",))
        if entity is not None and columns is not None:
            for key in entity.keys:
                if key not in columns:
                    report.error("E5003", f"entity key `{key}` of `{group.entity}` is not a column of source `{group.source}`",
                                 base + ("entity",), hint=did_you_mean(key, columns, "columns"))
        if len(set(group.windows)) != len(group.windows):
            report.error("E5021", f"feature group `{name}` lists a window twice", base + ("windows",))
        for i, window in enumerate(group.windows):
            if duration_seconds(window) is None:
                report.error("E2006", f"window `{window}` must be longer than zero", base + ("windows", i))


# --------------------------------------------------------------------- inputs


def _check_inputs(spec: S.Spec, report: Reporter) -> None:
    for name, item in spec.preprocess.inputs.items():
        path = ("preprocess", "inputs", name)
        try:
            dtype = str(parse_dtype(item.dtype))
        except ValueError:
            report.error("E5011", f"unknown dtype `{item.dtype}` for input `{name}`", path + ("dtype",),
                         hint=did_you_mean(item.dtype, ["bool", "int64", "float64", "string", "timestamp"], "dtypes"))
            continue
        if item.default is not None and not default_fits(dtype, item.default):
            report.error("E5012", f"default {item.default!r} of input `{name}` is not a {dtype}", path + ("default",))
        if item.required and item.default is not None:
            report.warning("W5103", f"input `{name}` is required, so its default is never used", path + ("default",))
    for entity_name, entity in spec.entities.items():
        used = any(g.entity == entity_name for g in spec.feature_groups.values())
        for key in entity.keys:
            if used and key not in spec.preprocess.inputs:
                report.error("E5020", f"entity key `{key}` of `{entity_name}` must be a preprocess input "
                             "(serving looks feature groups up by it)", ("entities", entity_name, "keys"),
                             hint=f"add `{key}` under `preprocess.inputs`")


# --------------------------------------------------------------------- models


_CLASSIFICATION_METRICS = {"auc", "logloss", "loss"}
_REGRESSION_METRICS = {"mae", "rmse", "loss"}


def _check_models(spec: S.Spec, report: Reporter, dtypes: dict[str, str], id_space: Callable[[str], int | None]) -> None:
    features = set(spec.preprocess.inputs) | set(spec.preprocess.features)
    for name, model in spec.models.items():
        base = ("models", name)
        columns = _require_columns(spec, report, model.training.source, f"model `{name}`", base + ("training", "source"))
        if columns is not None and model.label not in columns:
            report.error("E5004", f"label `{model.label}` is not a column of training source `{model.training.source}`",
                         base + ("label",), hint=did_you_mean(model.label, columns, "columns"))
        if not model.inputs.dense and not model.inputs.sparse:
            report.error("E5015", f"model `{name}` has no inputs", base + ("inputs",), at_key=True,
                         hint="list features under `inputs.dense` and/or `inputs.sparse`")
        _check_model_inputs(name, model, features, dtypes, id_space, report)
        _check_training(name, model, report)


def _check_model_inputs(name: str, model: S.ModelBase, features: set[str], dtypes: dict[str, str],
                        id_space: Callable[[str], int | None], report: Reporter) -> None:
    seen: set[str] = set()
    for kind in ("dense", "sparse"):
        for i, feature in enumerate(getattr(model.inputs, kind)):
            path = ("models", name, "inputs", kind, i)
            if feature in seen:
                report.error("E5021", f"model `{name}` lists input `{feature}` twice", path)
            seen.add(feature)
            if feature not in features:
                hint = did_you_mean(feature, features, "features")
                if "." in feature:
                    hint = f"feature-group outputs enter a model through a derived feature, e.g. `x: \"coalesce({feature}, 0)\"`"
                report.error("E5015", f"model `{name}` uses unknown feature `{feature}`", path, hint=hint)
                continue
            dtype = dtypes.get(feature)
            if dtype is None:
                continue
            if kind == "sparse" and dtype != "int64":
                report.error("E5013", f"sparse input `{feature}` is {dtype}; sparse inputs must be int64 ids", path,
                             hint="turn it into ids with `hash_bucket(x, n)`, `vocabulary(x, top_k)` or `bucketize(x, [...])`")
            elif kind == "sparse" and id_space(feature) is None:
                report.error("E5030", f"sparse input `{feature}` has no known number of ids, so its embedding "
                             "table cannot be sized", path,
                             hint=f"derive it with a bucketing function, e.g. `hash_bucket({feature}, 1000)`, "
                                  "`bucketize(...)` or `vocabulary(..., top_k)`, or with integer arithmetic of "
                                  "a known non-negative range: `abs(x) % 1000`, `clip(x, 0, 999)`, `hour(t) // 6`")
            if kind == "dense" and dtype not in _NUMERIC:
                report.error("E5013", f"dense input `{feature}` is {dtype}; dense inputs must be numeric", path,
                             hint="use it as a sparse input via `hash_bucket`, or convert it with `to_float`")
    wide = getattr(model.hyperparameters, "wide", None)
    for i, feature in enumerate(wide or []):
        if feature not in seen:
            report.error("E5015", f"wide input `{feature}` is not one of model `{name}`'s inputs",
                         ("models", name, "hyperparameters", "wide", i), hint=did_you_mean(feature, seen, "inputs"))


def _check_training(name: str, model: S.ModelBase, report: Reporter) -> None:
    base = ("models", name, "training")
    training = model.training
    validation = training.validation
    if isinstance(validation, S.TimeValidation):
        if (validation.split_at is None) == (validation.last_fraction is None):
            report.error("E5024", "validation needs exactly one of `split_at` and `last_fraction`", base + ("validation",), at_key=True)
        if validation.split_at is not None and parse_timestamp(validation.split_at) is None:
            report.error("E5014", f"`{validation.split_at}` is not an ISO-8601 timestamp", base + ("validation", "split_at"),
                         hint="e.g. `2024-06-01T00:00:00Z`")
    stopping = training.early_stopping
    if stopping is not None:
        allowed = _CLASSIFICATION_METRICS if model.task == "classification" else _REGRESSION_METRICS
        if stopping.metric not in allowed:
            report.error("E5025", f"metric `{stopping.metric}` does not fit a {model.task} model",
                         base + ("early_stopping", "metric"), hint="use one of " + ", ".join(f"`{m}`" for m in sorted(allowed)))
        if validation is None:
            report.error("E5026", "early stopping needs a validation split", base + ("early_stopping",), at_key=True,
                         hint="add `validation: {last_fraction: 0.1}`")
    if training.distributed.engine == "none" and training.distributed.workers > 1:
        report.error("E5028", f"{training.distributed.workers} workers need a distributed engine",
                     base + ("distributed", "workers"), hint="set `engine: horovod`")


# ----------------------------------------------------------------- deployment


def _check_deployment(spec: S.Spec, report: Reporter) -> None:
    deployment = spec.deployment
    for i, model in enumerate(deployment.models or []):
        if model not in spec.models:
            report.error("E5002", f"deployment serves unknown model `{model}`", ("deployment", "models", i),
                         hint=did_you_mean(model, spec.models, "models"))
    if deployment.serving.platform == "tensorflow_savedmodel":
        report.warning("W5101", "Triton deprecated its TensorFlow backend in 25.03 and removed it later",
                       ("deployment", "serving", "platform"), hint="use `onnxruntime_onnx` (the default)")
    _check_namespace(deployment.namespace, report)
    _check_images(deployment.images, report)
    _check_resources(deployment.resources, ("deployment", "resources"), report)
    if deployment.sharding is not None:
        _check_sharding(spec, report)


def _check_resources(resources: S.Resources, path: tuple, report: Reporter) -> None:
    for part in ("requests", "limits"):
        amounts = getattr(resources, part)
        for field in ("cpu", "memory"):
            value = getattr(amounts, field)
            if value is None:
                continue
            try:
                quantity_value(value)
            except ValueError as problem:
                report.error("E5027", f"`{value}` {problem}", path + (part, field),
                             hint="e.g. cpu `500m` or `2`, memory `512Mi` or `4Gi`")


# ------------------------------------------------------- Kubernetes values

def _check_namespace(namespace: str, report: Reporter) -> None:
    problem = _dns_label_problem(namespace)
    if problem:
        report.error("E5038", f"namespace `{namespace}` {problem}", ("deployment", "namespace"),
                     hint=f"a namespace is a DNS-1123 label: lowercase letters, digits and `-`, starting and ending "
                          f"with a letter or digit, at most {S.DNS_LABEL_MAX} characters, e.g. `{_suggest_label(namespace)}`")


_DNS_LABEL = re.compile(S.DNS_LABEL_PATTERN)


def _dns_label_problem(text: str) -> str | None:
    if len(text) > S.DNS_LABEL_MAX:
        return f"is {len(text)} characters long; the limit is {S.DNS_LABEL_MAX}"
    if _DNS_LABEL.fullmatch(text):
        return None
    if _DNS_LABEL.fullmatch(text.lower()):
        return "must be lowercase"
    return "is not a DNS-1123 label"


def _suggest_label(text: str) -> str:
    label = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:S.DNS_LABEL_MAX].strip("-")
    return label or "default"


# Container image references (the distribution/reference grammar Docker, containerd and the
# kubelet parse): [registry[:port]/]path[:tag][@digest].
_DOMAIN_COMPONENT = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
MAX_IMAGE_NAME = 255


def _check_images(images: S.Images, report: Reporter) -> None:
    for which, reference in images.model_dump().items():
        problem = image_problem(reference)
        if problem:
            report.error("E5039", f"`{reference}` is not a container image reference: {problem}",
                         ("deployment", "images", which),
                         hint="[registry[:port]/]path[:tag][@sha256:DIGEST], e.g. `registry.example.com:5000/ml/"
                              "serving:1.2`; paths are lowercase")


def image_problem(reference: str) -> str | None:
    """Why ``reference`` is not an image reference (``name[:tag][@digest]``), or None."""
    name, at, digest = reference.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        return f"digest `{digest}` is not `sha256:` and 64 lowercase hex digits"
    name, tag = _split_tag(name)
    if tag is not None and not _TAG.fullmatch(tag):
        return f"tag `{tag}` must be 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
    if len(name) > MAX_IMAGE_NAME:
        return f"the name is {len(name)} characters long; the limit is {MAX_IMAGE_NAME}"
    domain, path = _split_domain(name)
    if domain is not None and not _DOMAIN.fullmatch(domain):
        return f"registry `{domain}` is not a host name with an optional `:port`"
    return _path_problem(path)


def _split_tag(name: str) -> tuple[str, str | None]:
    """``host:5000/repo:tag`` -> (``host:5000/repo``, ``tag``): a tag follows the last `:` after the last `/`."""
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        return name[:colon], name[colon + 1:]
    return name, None


def _split_domain(name: str) -> tuple[str | None, str]:
    """The registry is the first component when it looks like a host (Docker's rule: it has a `.` or
    a `:`, is `localhost`, or has an upper-case letter); else the image is on Docker Hub."""
    first, slash, rest = name.partition("/")
    if slash and (any(c in first for c in ".:") or first == "localhost" or first != first.lower()):
        return first, rest
    return None, name


def _path_problem(path: str) -> str | None:
    for component in path.split("/"):
        if _PATH_COMPONENT.fullmatch(component):
            continue
        if _PATH_COMPONENT.fullmatch(component.lower()):
            return f"the repository path `{path}` must be lowercase"
        shown = f"path component `{component}`" if component else "an empty path component"
        return f"{shown} may hold only lowercase letters and digits, separated by `.`, `_`, `__` or `-`"
    return None


def _check_sharding(spec: S.Spec, report: Reporter) -> None:
    sharding = spec.deployment.sharding
    base = ("deployment", "sharding")
    key = spec.preprocess.inputs.get(sharding.partition_key)
    if key is None:
        report.error("E5016", f"partition key `{sharding.partition_key}` is not a preprocess input", base + ("partition_key",),
                     hint=did_you_mean(sharding.partition_key, spec.preprocess.inputs, "inputs"))
    elif key.dtype not in ("string", "int64"):
        report.error("E5016", f"partition key `{sharding.partition_key}` is {key.dtype}; it must be a string or int64 input",
                     base + ("partition_key",))
    if sharding.default is not None and sharding.default not in sharding.shards:
        report.error("E5008", f"default shard `{sharding.default}` is not a declared shard", base + ("default",),
                     hint=did_you_mean(sharding.default, sharding.shards, "shards"))
    owner: dict[str, str] = {}
    for name, shard in sharding.shards.items():
        path = base + ("shards", name)
        if not shard.partitions and name != sharding.default:
            report.error("E5006", f"shard `{name}` has no partitions", path + ("partitions",), at_key=True,
                         hint="list the partition-key values it serves, or make it the `default` shard")
        for i, value in enumerate(shard.partitions):
            text = str(value)
            if text in owner:
                report.error("E5005", f"partition `{text}` is in both shard `{owner[text]}` and shard `{name}`",
                             path + ("partitions", i), hint="partitions of different shards must be disjoint")
            owner.setdefault(text, name)
        models = shard.models if shard.models is not None else served_models(spec)
        if not models:
            report.error("E5007", f"shard `{name}` serves no model", path, at_key=True,
                         hint="declare a model under `models:` or list one in the shard's `models`")
        for i, model in enumerate(shard.models or []):
            if model not in spec.models:
                report.error("E5002", f"shard `{name}` serves unknown model `{model}`", path + ("models", i),
                             hint=did_you_mean(model, spec.models, "models"))
        if shard.resources is not None:
            _check_resources(shard.resources, path + ("resources",), report)
