"""Model training on the training sets written by ``mlc.runtime.features.training_set``: the input
mapping shared with serving (``inputs``), reading and sharding a split (``data``), the model zoo
(``models``), the training loop (``trainer``) and the Triton export (``export``).

Nothing is imported here: TensorFlow, pyarrow and NumPy load only when a submodule is imported,
so ``mlc compile`` never pays for them. See README.md.
"""
