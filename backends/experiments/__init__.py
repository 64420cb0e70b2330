"""The `experiments/config.json` backend: the only input of the experiment runtime."""

from mlc.backends.experiments.emit import PATH, config_version, document, emit, render

__all__ = ["PATH", "config_version", "document", "emit", "render"]
