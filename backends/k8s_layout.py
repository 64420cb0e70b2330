"""The Kubernetes layout every cluster object of mlc agrees on, written once: shared by the
backends that write manifests (``spark``, ``train``, ``serving_k8s``; like ``templating``, no
backend imports another's names) and by the runtime that applies them
(``mlc.runtime.deploy.k8s``).
"""

from __future__ import annotations

# Layout of the job images: the compiled build tree and the mlc wheel.
IMAGE_BUILD_DIR = "/opt/mlc/build"
IMAGE_DIST_DIR = "/opt/mlc/dist"
OUTPUT_ROOT = "/data/mlc"
# Shared storage for every cluster job: a ReadWriteMany PersistentVolumeClaim mounted at
# OUTPUT_ROOT (feature snapshots and training sets are written there, training reads them).
DATA_VOLUME = "data"
DATA_CLAIM = "mlc-data"

# Labels: Kubernetes' recommended ones on every object mlc writes, and the ones `mlc deploy`
# adds (which application, which release) and prunes by.
NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
PART_OF = "app.kubernetes.io/part-of"
PART_OF_VALUE = "mlc"
APP_LABEL = "mlc.dev/app"
RELEASE_LABEL = "mlc.dev/release"
LABEL_VALUE_MAX = 63

# Names: pod names must stay DNS labels (63 characters); a controller appends suffixes to the
# name of the object it creates pods for, so those names are bounded shorter
# (``mlc.backends.templating.bounded_name``).
DNS_LABEL_MAX = 63
DEPLOYMENT_NAME_MAX = DNS_LABEL_MAX - len("-0123456789-abcde")   # `<deployment>-<10 chars>-<5 chars>`: 47
JOB_NAME_MAX = DNS_LABEL_MAX - len("-launcher-abcde")            # `<job>-launcher-xxxxx`, `<job>-worker-<i>`: 48


def labels(app: str, component: str, instance: str | None = None) -> dict[str, str]:
    """The recommended labels of an object of application ``app`` (a k8s name), in a fixed order."""
    out = {NAME_LABEL: app}
    if instance is not None:
        out[INSTANCE_LABEL] = instance
    out[COMPONENT_LABEL] = component
    out[PART_OF] = PART_OF_VALUE
    return out
