"""Deploying a spec's models: the local target (``local``: Tritons in explicit model-control
mode, the gateway, safe version switches from the model registry) and Kubernetes (``k8s``)."""
