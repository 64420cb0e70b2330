"""The model registry: versions of every (model, shard), aliases (``production``, ...) moved
atomically with a history, replica heartbeats and small state documents; SQLite (default, one
file beside the spec) or Redis. See README.md and docs/deploy.md ("Registry").

    registry = open_registry(default_registry_url("app.mlc.yaml"), ir.name)
    registry.register_run(ir, ".mlc/app/data")
    registry.promote("eta_dnn", "east", 4, reason="better MAE")
"""

from mlc.runtime.model_registry.records import (AliasEvent, ModelVersion, RegistryError, RegistryUnavailable,
                                                ReplicaReport)
from mlc.runtime.model_registry.registry import (Registry, content_sha256, data_range, default_registry_url,
                                                 open_registry)
from mlc.runtime.model_registry.store import redact

__all__ = ["AliasEvent", "ModelVersion", "Registry", "RegistryError", "RegistryUnavailable", "ReplicaReport",
           "content_sha256", "data_range", "default_registry_url", "open_registry", "redact"]
