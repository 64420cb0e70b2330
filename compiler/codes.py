"""Every diagnostic code mlc emits, with a one-line title. `docs/errors.md` is generated from
this table together with the expression codes of ``mlc.dsl.errors.CODES``; a test checks that
every code used in the source is listed here and that the document is current.

Ranges: E1xxx loading (YAML, files, includes), E2xxx schema, E3xxx expression syntax,
E4xxx expression names and types, E5xxx semantic checks, E6xxx artifacts and output,
E7xxx running things (data, optional dependencies), W5xxx warnings.
"""

from __future__ import annotations

CODES: dict[str, str] = {
    "E1001": "invalid YAML syntax",
    "E1002": "duplicate key in a mapping",
    "E1003": "mapping key is not a plain string",
    "E1004": "unsupported YAML tag",
    "E1005": "unsupported YAML construct (merge key, excessive nesting)",
    "E1006": "file cannot be read (missing, not UTF-8, no permission)",
    "E1102": "an included file redefines a value differently",
    "E1103": "include cycle",
    "E1104": "`environments` outside the top-level spec",
    "E1105": "unknown environment",
    "E2001": "the spec is not a mapping",
    "E2002": "unknown key",
    "E2003": "missing required key",
    "E2004": "value has the wrong type",
    "E2005": "value is not one of the allowed choices",
    "E2006": "invalid duration",
    "E2007": "value out of range or otherwise invalid",
    "E5001": "invalid name",
    "E5002": "reference to something that does not exist",
    "E5003": "column not declared in the source",
    "E5004": "label is not a column of the training source",
    "E5005": "a partition belongs to two shards",
    "E5006": "shard without partitions",
    "E5007": "shard without a model",
    "E5008": "unknown default shard",
    "E5009": "experiments of a layer take more than 100% of traffic, or a reservation ends beyond it",
    "E5010": "variant weights do not sum to 100%",
    "E5011": "unknown dtype",
    "E5012": "input default does not match its dtype",
    "E5013": "model input of the wrong dtype (dense must be numeric, sparse int64)",
    "E5014": "invalid timestamp",
    "E5015": "model input is not a known feature",
    "E5016": "invalid partition key",
    "E5017": "experiment unit is not a string or int64 preprocess input",
    "E5018": "unknown timezone",
    "E5020": "entity key is not a preprocess input",
    "E5021": "name defined twice",
    "E5022": "inconsistent time settings (burn-in, start/end)",
    "E5023": "event_time column has the wrong dtype",
    "E5024": "validation split needs exactly one of split_at and last_fraction",
    "E5025": "early-stopping metric does not fit the task",
    "E5026": "early stopping without a validation split",
    "E5027": "invalid Kubernetes quantity",
    "E5028": "several workers without a distributed engine",
    "E5029": "variant pins both a version and an alias",
    "E5030": "sparse input with an unknown number of ids",
    "E5031": "feature-group default does not match the output's dtype",
    "E5032": "reservations of two experiments in a layer overlap",
    "E5033": "experiment traffic above its reserve",
    "E5034": "two switchbacks switch the same regions over overlapping periods",
    "E5035": "switchback slice shorter than `experiments.min_slice`",
    "E5036": "switchback slice neither divides a day nor is whole days",
    "E5037": "switchback weights need more than 24 slices per block",
    "E6002": "the build cannot be written",
    "E6003": "backends emitted conflicting or invalid paths",
    "E6004": "the experiments baseline cannot be read",
    "E6005": "a build folder cannot be read (manifest, checksums)",
    "E7001": "a command needs an optional dependency that is not installed",
    "E7002": "data for a command not found",
    "E7003": "data cannot be read as the spec declares",
    "E7004": "invalid time given on the command line",
    "E7005": "the online store failed",
    "E7006": "an entity key does not match the group's key columns",
    "E7007": "training sets not found (run `mlc run --step training` first)",
    "E7008": "training a model failed",
    "E7009": "unknown experiment or switchback on the command line (or the wrong kind)",
    "E7010": "exposures or outcomes cannot be read or analysed",
    "E7011": "`--context` is not a JSON object of request fields",
    "E7200": "registering the exported versions in the model registry failed (`mlc run`)",
    "E7201": "unknown model or shard on the command line",
    "E7202": "the model is served by several shards: `--shard` is needed",
    "E7203": "the model registry cannot be opened or reached",
    "E7204": "the model registry refused the request (unknown version or alias, nothing to roll back to, conflicting content)",
    "E7210": "the sample request of `mlc run` failed (no running gateway, or an error answer)",
    "W5101": "deprecated serving platform",
    "W5102": "variant model is not served by the deployment",
    "W5103": "default of a required input is never used",
    "W5104": "layer salt changed while experiments of the baseline run (reshuffles their units)",
    "W5105": "active range of a running experiment moved or shrank (units leave it)",
    "W5106": "variant split, holdout or unit of a running experiment changed (units switch variants)",
    "W5107": "schedule of a switchback of the baseline changed",
    "W5108": "a layer mixes unit fields (experiments exclusive only per unit field)",
}


def all_codes() -> dict[str, str]:
    from mlc.dsl.errors import CODES as EXPRESSION_CODES

    return dict(sorted({**CODES, **EXPRESSION_CODES}.items()))


def render_markdown() -> str:
    lines = ["# mlc diagnostic codes", "",
             "Generated from `mlc.compiler.codes` and `mlc.dsl.errors`; do not edit by hand.", "",
             "Every diagnostic prints as `path:line:col: error[CODE]: message`, the source line with a",
             "caret under the offending text, and a `help:` hint when there is one.", "",
             "| code | meaning |", "|---|---|"]
    lines += [f"| {code} | {title} |" for code, title in all_codes().items()]
    return "\n".join(lines) + "\n"
