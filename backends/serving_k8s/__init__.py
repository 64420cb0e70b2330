"""The serving side on Kubernetes (``k8s/serving/``): per shard a Triton Deployment (its model
repository assembled by an initContainer from the shared claim, or fetched from object storage),
Service, HorizontalPodAutoscaler and PodDisruptionBudget; the routing table as a ConfigMap; the
predictor gateway (``python -m mlc.runtime.serving.gateway``). See README.md for the contract."""

from mlc.backends.serving_k8s.emit import (
    ObjectStoreRepository, PvcRepository, ServingK8sError, emit, gateway_manifests, gateway_name, routing_configmap,
    routing_table, shard_path, triton_manifests, triton_name,
)

__all__ = ["ObjectStoreRepository", "PvcRepository", "ServingK8sError", "emit", "gateway_manifests",
           "gateway_name", "routing_configmap", "routing_table", "shard_path", "triton_manifests", "triton_name"]
