"""The `experiments/config.json` backend: the only input of the experiment runtime."""

from mlc.backends.experiments.emit import emit
from mlc.backends.experiments_config import PATH, config_version, document, render

__all__ = ["PATH", "config_version", "document", "emit", "render"]
