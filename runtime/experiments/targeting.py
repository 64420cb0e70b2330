"""Experiment targeting: a typed expression tree (``mldl.json`` form) over ONE request's fields.

    targeting = Targeting(experiment.targeting)     # compiled once, when the config is loaded
    targeting.matches({"city": "beijing", "user_id": 7})   # -> bool

The tree is evaluated by the NumPy executor (``mlc.runtime.numpy_ops``) on length-1 columns, so
targeting has exactly the semantics of preprocessing (docs/semantics.md). The tree is compiled
into closures that call the executor's registered implementations directly (what
``NumpyOps._dispatch`` does), so a request pays no tree walk and no name lookups. A function the
executor does not implement, an analyzer (it needs fitted constants) or a malformed node is
refused when the tree is compiled (:class:`TargetingError`), never on a request.

Per request: a missing or null field is null; a value that is not of its input's dtype (as the
predictor would refuse it: ``"7"`` for an int64) makes the targeting false, as does a null
result. A request never raises.

Results are memoised per combination of the referenced fields' values (typed: ``1`` and
``True`` are different keys), up to ``CACHE_SIZE`` combinations: targeting usually reads
low-cardinality fields (country, platform, city), so most requests skip the executor.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Callable, Mapping
from mlc.core.errors import MlcError
from mlc.core.ir import ANALYZERS
from mlc.runtime.registry import UnknownFunction
from mlc.backends.preprocess.codegen import CodegenError, constant_positions

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
INPUT_DTYPES = ("bool", "int64", "float64", "string", "timestamp")

Node = Callable[[Any], Any]      # ops -> Vec (or a list of Vec for a `list` node)
CACHE_SIZE = 4096


class TargetingError(MlcError, ValueError):
    """A targeting tree that cannot be compiled (unknown function, malformed node ...)."""


class _Unusable(Exception):
    """A request value that cannot be a value of its field's dtype."""


class Targeting:
    """A compiled targeting tree; ``inputs`` maps each referenced field to its dtype."""

    def __init__(self, tree: Mapping[str, Any]):
        self.tree = tree
        self.inputs: dict[str, str] = {}
        self._root = _Compiler(self.inputs).compile(tree)
        if tree.get("dtype") not in ("bool", "null"):
            raise TargetingError(f"targeting must be a bool expression, not {tree.get('dtype')}")
        from mlc.runtime.numpy_ops import NumpyOps, Vec

        self._executor, self._full = NumpyOps, Vec.full
        self._names = tuple(self.inputs)
        self._cache: dict[tuple, bool] = {}

    def matches(self, fields: Mapping[str, Any]) -> bool:
        """The targeting's value for a request: True only for a non-null true result."""
        values = tuple(fields.get(name) for name in self._names)
        key = tuple((type(v), v) for v in values)
        try:
            return self._cache[key]
        except KeyError:
            pass
        except TypeError:                        # an unhashable value (a list ...): not cached
            return self._evaluate(fields)
        result = self._evaluate(fields)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()                  # bounded; cheap to refill
        self._cache[key] = result
        return result

    def _evaluate(self, fields: Mapping[str, Any]) -> bool:
        try:
            columns = {name: self._column(fields.get(name), dtype) for name, dtype in self.inputs.items()}
        except _Unusable:
            return False
        try:
            out = self._root(self._executor(columns, 1))
            return bool(out.valid[0]) and bool(out.data[0])
        except (ArithmeticError, TypeError, ValueError):    # bad data must not fail the request
            return False

    def _column(self, value: Any, dtype: str) -> Any:
        return self._full(None if value is None else typed_value(value, dtype), dtype, 1)


def typed_value(value: Any, dtype: str) -> Any:
    """A JSON request value as the executor's Python value of ``dtype`` (the predictor's rules:
    integral floats are int64, ints are float64, timestamps are ISO-8601 text (naive = UTC),
    ``datetime`` or int microseconds); raises ``_Unusable`` otherwise."""
    if dtype == "string" and isinstance(value, str):
        return value
    if dtype == "bool" and isinstance(value, bool):
        return value
    if isinstance(value, bool):
        raise _Unusable(dtype)
    if dtype == "int64":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
            return value
    elif dtype == "float64" and isinstance(value, (int, float)):
        return float(value)
    elif dtype == "timestamp":
        return _micros(value)
    raise _Unusable(dtype)


def _micros(value: Any) -> int:
    if isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise _Unusable("timestamp") from None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        delta = moment - EPOCH
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise _Unusable("timestamp")


class _Compiler:
    """Tree -> closure ``ops -> Vec``; records referenced inputs in ``inputs``."""

    def __init__(self, inputs: dict[str, str]):
        from mlc.runtime.numpy_ops.core import REGISTRY

        self.inputs = inputs
        self.registry = REGISTRY

    def compile(self, tree: Any) -> Node:
        if not isinstance(tree, Mapping):
            raise TargetingError(f"a targeting node must be an object, got {type(tree).__name__}")
        kind = tree.get("kind")
        compile_kind = getattr(self, f"_{kind}", None) if isinstance(kind, str) else None
        if compile_kind is None:
            raise TargetingError(f"cannot evaluate a `{kind}` node in targeting")
        try:
            return compile_kind(tree)
        except KeyError as err:
            raise TargetingError(f"a `{kind}` node lacks {err}") from None

    def _implementation(self, name: str) -> Callable:
        try:
            return self.registry.lookup(name)
        except UnknownFunction as err:
            raise TargetingError(str(err)) from None

    def _ref(self, tree: Mapping) -> Node:
        name, dtype = tree["name"], _dtype(tree)
        if dtype not in INPUT_DTYPES:
            raise TargetingError(f"field `{name}` has dtype {dtype}; request fields are {', '.join(INPUT_DTYPES)}")
        if self.inputs.setdefault(name, dtype) != dtype:
            raise TargetingError(f"field `{name}` is referenced as {self.inputs[name]} and as {dtype}")
        return lambda ops: ops.input(name, dtype)

    def _constant(self, tree: Mapping) -> Node:
        from mlc.runtime.numpy_ops import Vec

        dtype = _dtype(tree)
        if dtype not in (*INPUT_DTYPES, "null"):
            raise TargetingError(f"a constant of dtype {dtype} cannot be a targeting value")
        vec = Vec.full(tree["value"], dtype, 1)     # n is always 1: built once
        return lambda ops: vec

    def _list(self, tree: Mapping) -> Node:
        items = [self.compile(item) for item in tree.get("items", tree.get("values", []))]
        return lambda ops: [item(ops) for item in items]

    def _unary(self, tree: Mapping) -> Node:
        impl, dtype, operand = self._implementation(f"unary{tree['op']}"), _dtype(tree), self.compile(tree["operand"])
        return lambda ops: impl(ops, dtype, operand(ops))

    def _binary(self, tree: Mapping) -> Node:
        impl, dtype = self._implementation(f"binary{tree['op']}"), _dtype(tree)
        left, right = self.compile(tree["left"]), self.compile(tree["right"])
        return lambda ops: impl(ops, dtype, left(ops), right(ops))

    def _in(self, tree: Mapping) -> Node:
        impl, dtype, negated = self._implementation("in"), _dtype(tree), bool(tree["negated"])
        value, options = self.compile(tree["value"]), [self.compile(o) for o in tree["options"]]
        return lambda ops: impl(ops, dtype, value(ops), [option(ops) for option in options], negated)

    def _call(self, tree: Mapping) -> Node:
        function, dtype, args = tree["function"], _dtype(tree), tree["args"]
        if function in ANALYZERS:
            raise TargetingError(f"`{function}` needs fitted constants and cannot be used in targeting")
        impl = self._implementation(function)
        compiled = self._arguments(function, args)
        return lambda ops: impl(ops, dtype, *[arg(ops) for arg in compiled])

    def _arguments(self, function: str, args: list) -> list[Node]:
        """Constant-only parameters (per the catalogue) are passed as plain values."""
        try:
            constants = constant_positions(function, len(args))
        except CodegenError as err:
            raise TargetingError(str(err)) from None
        compiled = []
        for i, arg in enumerate(args):
            if i in constants:
                if not isinstance(arg, Mapping) or arg.get("kind") != "constant":
                    raise TargetingError(f"argument {i + 1} of `{function}` must be constant")
                compiled.append(_plain(arg.get("value")))
            else:
                compiled.append(self.compile(arg))
        return compiled


def _plain(value: Any) -> Node:
    return lambda ops: value


def _dtype(tree: Mapping) -> str:
    dtype = tree["dtype"]
    if not isinstance(dtype, str):
        raise TargetingError(f"a node's dtype must be a string, got {dtype!r}")
    return dtype
