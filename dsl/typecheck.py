"""Typechecker: untyped AST + scope + context -> TypedExpr and every issue found.

Contexts:

- ``derived``: preprocess derived features; scalar functions and analyzers.
- ``aggregation``: a feature-group feature; exactly one aggregate call at the top whose arguments
  are scalar expressions over source columns.
- ``filter`` / ``condition``: source filters and experiment targeting; scalar functions only and
  the result must be bool.

The checker never raises on bad input.  A sub-expression with a problem gets the ``error`` type,
which fits everywhere, so one mistake produces one issue and checking continues.
"""

from __future__ import annotations

from . import folding
from .ast import ARITHMETIC_OPS, BOOLEAN_OPS, Binary, Call, Expr, InOp, ListLit, Literal, Ref, Unary
from .catalogue import AGGREGATE, ANALYZER, CATALOGUE, OMITTED, SCALAR, Function, Param, Problem
from .errors import ExprIssue
from .limits import tree_problem
from .scope import Scope
from .typed import NOT_CONSTANT, TypedExpr
from .types import BOOL, ERROR, FLOAT64, INT64, NULL, STRING, DType, arithmetic_result, comparable, list_of, unify
from .errors import ExprSyntaxError
from .parser import parse_expression
from mlc.core.suggest import did_you_mean

CONTEXTS = ("derived", "aggregation", "filter", "condition")
_LITERAL_TYPES = {"int": INT64, "float": FLOAT64, "string": STRING, "bool": BOOL, "null": NULL}
_KEYWORD_SPELLINGS = {"true": "true", "false": "false", "null": "null", "none": "null", "nil": "null"}


def check_expression(expr: Expr, scope: Scope, context: str = "derived") -> tuple[TypedExpr, list[ExprIssue]]:
    """Type ``expr`` in ``context``; returns the typed tree and all issues (empty when valid).
    A tree beyond the limits of :mod:`mlc.dsl.limits` is not walked: one E3010/E3011 issue."""
    if context not in CONTEXTS:
        raise ValueError(f"unknown expression context {context!r}; expected one of {CONTEXTS}")
    too_big = tree_problem(expr)  # parse_expression checks this too; trees built in code may not be
    if too_big is not None:
        return TypedExpr(expr, ERROR), [too_big]
    checker = _Checker(scope, context, expr)
    typed = checker.check_root()
    return typed, sorted(checker.issues, key=lambda issue: (issue.start, issue.end))


class _Checker:
    def __init__(self, scope: Scope, context: str, root: Expr) -> None:
        self.scope = scope
        self.context = context
        self.root = root
        self.issues: list[ExprIssue] = []

    def report(self, code: str, message: str, node_or_span, hint: str | None = None) -> None:
        start, end = (node_or_span.start, node_or_span.end) if hasattr(node_or_span, "start") else node_or_span
        self.issues.append(ExprIssue(code, message, start, end, hint))

    # --- entry ---------------------------------------------------------------------------------

    def check_root(self) -> TypedExpr:
        if self.context == "aggregation" and not self._is_aggregate_call(self.root):
            self.report(
                "E4013",
                "a feature-group feature must be exactly one aggregate call",
                self.root,
                hint="e.g. `sum(amount)` or `count()`; combine aggregates in a derived feature instead",
            )
        typed = self.visit(self.root, None)
        if self.context in ("filter", "condition") and not (typed.dtype == BOOL or typed.dtype.is_unknown):
            self.report("E4010", f"a {self.context} must be bool, got {typed.dtype}", self.root,
                        hint="compare the value, e.g. `x > 0` or `not is_null(x)`")
        return typed

    def _is_aggregate_call(self, node: Expr) -> bool:
        return isinstance(node, Call) and node.name in CATALOGUE and CATALOGUE[node.name].kind == AGGREGATE

    def visit(self, node: Expr, enclosing: Function | None) -> TypedExpr:
        if isinstance(node, Literal):
            return self.literal(node)
        if isinstance(node, Ref):
            return self.ref(node)
        if isinstance(node, ListLit):
            return self.list_literal(node, enclosing)
        if isinstance(node, Unary):
            return self.unary(node, enclosing)
        if isinstance(node, Binary):
            return self.binary(node, enclosing)
        if isinstance(node, InOp):
            return self.membership(node, enclosing)
        return self.call(node, enclosing)

    # --- leaves --------------------------------------------------------------------------------

    def literal(self, node: Literal) -> TypedExpr:
        dtype = _LITERAL_TYPES[node.kind]
        try:
            value = folding.checked(node.value)
        except folding.ConstantOverflow:
            what = "integer literal does not fit in int64" if node.kind == "int" else "float literal is out of range"
            self.report("E4006", what, node)
            return TypedExpr(node, dtype)
        return TypedExpr(node, dtype, value=value)

    def ref(self, node: Ref) -> TypedExpr:
        dtype = self.scope.lookup(node.parts)
        if dtype is not None:
            return TypedExpr(node, dtype)
        name = node.dotted
        keyword = _KEYWORD_SPELLINGS.get(name.lower())
        if keyword is not None:
            hint = f"literals are lower-case: `{keyword}`"
        else:
            hint = did_you_mean(name, self.scope.candidates(), "names")
        self.report("E4001", f"unknown name `{name}`", node, hint)
        return TypedExpr(node, ERROR)

    # --- composites ----------------------------------------------------------------------------

    def list_literal(self, node: ListLit, enclosing: Function | None) -> TypedExpr:
        items = tuple(self.visit(item, enclosing) for item in node.items)
        element = self.common_type(items, "list items")
        return TypedExpr(node, list_of(element), items, _constant_tuple(items))

    def common_type(self, items: tuple[TypedExpr, ...], what: str) -> DType:
        """Unify item types, reporting the first item that does not fit (E4011)."""
        common = NULL
        for item in items:
            unified = unify(common, item.dtype)
            if unified is None:
                self.report("E4011", f"{what} must share one type: `{item.dtype}` does not fit `{common}`", item)
                return ERROR
            common = unified
        return common

    def unary(self, node: Unary, enclosing: Function | None) -> TypedExpr:
        operand = self.visit(node.operand, enclosing)
        if node.op == "not":
            if not _is_bool(operand.dtype):
                self.report("E4012", f"`not` needs a bool, got {operand.dtype}", node.operand)
                return TypedExpr(node, ERROR, (operand,))
            return TypedExpr(node, BOOL, (operand,), self.fold(node, folding.logical_not, operand))
        if not (operand.dtype.is_numeric or operand.dtype.is_unknown):
            self.report("E4012", f"`-` needs a number, got {operand.dtype}", node)
            return TypedExpr(node, ERROR, (operand,))
        return TypedExpr(node, operand.dtype, (operand,), self.fold(node, folding.negate, operand))

    def binary(self, node: Binary, enclosing: Function | None) -> TypedExpr:
        left = self.visit(node.left, enclosing)
        right = self.visit(node.right, enclosing)
        pair = (left, right)
        if node.op in ARITHMETIC_OPS:
            dtype = arithmetic_result(node.op, left.dtype, right.dtype)
            if dtype is None:
                message, hint = _arithmetic_problem(node.op, left.dtype, right.dtype)
                self.report("E4012", message, node, hint)
                return TypedExpr(node, ERROR, pair)
            return TypedExpr(node, dtype, pair, self.fold(node, lambda a, b: folding.arithmetic(node.op, a, b), *pair))
        if node.op in BOOLEAN_OPS:
            return self.boolean(node, left, right)
        ordered = node.op not in ("==", "!=")
        if not comparable(left.dtype, right.dtype, ordered):
            hint = "`<`, `<=`, `>`, `>=` need numbers, strings or timestamps" if ordered else None
            self.report("E4012", f"cannot compare {left.dtype} with {right.dtype} using `{node.op}`", node, hint)
            return TypedExpr(node, BOOL, pair)
        return TypedExpr(node, BOOL, pair, self.fold(node, lambda a, b: folding.compare(node.op, a, b), *pair))

    def boolean(self, node: Binary, left: TypedExpr, right: TypedExpr) -> TypedExpr:
        valid = True
        for side in (left, right):
            if not _is_bool(side.dtype):
                self.report("E4012", f"`{node.op}` needs bool operands, got {side.dtype}", side)
                valid = False
        if not valid:
            return TypedExpr(node, BOOL, (left, right))
        value = self.fold(node, lambda a, b: folding.logical(node.op, a, b), left, right)
        return TypedExpr(node, BOOL, (left, right), value)

    def membership(self, node: InOp, enclosing: Function | None) -> TypedExpr:
        value = self.visit(node.value, enclosing)
        options = tuple(self.visit(option, enclosing) for option in node.options)
        children = (value, *options)
        element = self.common_type(options, "`in` options")
        if not comparable(value.dtype, element, ordered=False):
            self.report("E4012", f"cannot look for a {value.dtype} among {element} options", node)
            return TypedExpr(node, BOOL, children)
        folded = NOT_CONSTANT
        if all(child.is_constant for child in children):
            folded = folding.membership(value.value, tuple(o.value for o in options), node.negated)
        return TypedExpr(node, BOOL, children, folded)

    def fold(self, node: Expr, operation, *operands: TypedExpr) -> object:
        if not all(operand.is_constant for operand in operands):
            return NOT_CONSTANT
        try:
            return operation(*(operand.value for operand in operands))
        except folding.ConstantOverflow as overflow:
            self.report("E4006", f"constant expression overflows: {overflow}", node)
            return NOT_CONSTANT

    # --- calls ---------------------------------------------------------------------------------

    def call(self, node: Call, enclosing: Function | None) -> TypedExpr:
        function = CATALOGUE.get(node.name)
        if function is None:
            args = tuple(self.visit(arg, enclosing) for arg in node.args)
            self.unknown_function(node)
            return TypedExpr(node, ERROR, args)
        misplaced = self.misplaced(node, function, enclosing)
        inner = enclosing if function.kind == SCALAR else function
        args = tuple(self.visit(arg, inner) for arg in node.args)
        if misplaced:
            return TypedExpr(node, ERROR, args, function=function.canonical)
        params = function.bind(len(args))
        if params is None:
            self.report("E4003", _arity_message(function, len(args)), node, hint=f"signature: {function.signature()}")
            return TypedExpr(node, ERROR, args, function=function.canonical)
        types = [self.argument(function, param, arg) for param, arg in zip(params, args)]
        args, types = self.with_defaults(node, function, args, types)
        if function.arg_rule is not None and not any(t.is_error for t in types):
            problem = function.arg_rule(args)
            if problem is not None:
                index, code, message = problem
                self.report(code, message, args[index])
                return TypedExpr(node, ERROR, args, function=function.canonical)
        dtype = function.returns.infer(types)
        if dtype is None:
            shown = ", ".join(str(t) for t in types[slice(*function.returns.unified)])
            what = function.returns.describe.replace("common type of ", "").replace("common numeric type of ", "")
            self.report("E4011", f"{what} of `{function.name}` have no common type: {shown}", node)
            dtype = ERROR
        return TypedExpr(node, dtype, args, function=function.canonical)

    def unknown_function(self, node: Call) -> None:
        hint = did_you_mean(node.name, CATALOGUE, "functions")
        self.report("E4002", f"unknown function `{node.name}`", (node.name_start, node.name_end), hint)

    def misplaced(self, node: Call, function: Function, enclosing: Function | None) -> bool:
        """Report an aggregate or analyzer used where it is not allowed; True when reported."""
        name = function.name
        if function.kind == AGGREGATE:
            if self.context != "aggregation":
                self.report("E4008", f"aggregate `{name}` can only be used in a feature-group feature", node,
                            hint=_aggregate_hint(name))
                return True
            if enclosing is not None:
                self.report("E4014", f"aggregate `{name}` cannot be nested inside `{enclosing.name}`", node)
                return True
        if function.kind == ANALYZER:
            if self.context != "derived":
                self.report("E4009", f"analyzer `{name}` can only be used in preprocess derived features", node)
                return True
            if enclosing is not None:
                self.report("E4014", f"analyzer `{name}` cannot be nested inside `{enclosing.name}`", node,
                            hint="fit one analyzer per derived feature; reference that feature instead")
                return True
        return False

    def argument(self, function: Function, param: Param, arg: TypedExpr) -> DType:
        """Check one argument against its parameter; returns the type to infer the result from."""
        label = f"argument `{param.name}` of `{function.name}`"
        if not param.accepts_type(arg.dtype):
            self.report("E4004", f"{label} must be {param.accepts}, got {arg.dtype}", arg)
            return ERROR
        if arg.dtype.is_list and "list<" not in param.accepts:
            self.report("E4017", f"{label} cannot be a list", arg,
                        hint="a list is only the argument of `size` (e.g. `size(split(tags, '|'))`) or the "
                             "constant list of `bucketize`")
            return ERROR
        if param.constant and not arg.is_constant:
            if not arg.dtype.is_error:
                self.report("E4005", f"{label} must be a constant", arg,
                            hint="write a literal value; it is fixed when the spec is compiled")
            return arg.dtype
        if param.check is not None and arg.is_constant:
            problem = param.check(arg.value)
            if isinstance(problem, Problem):
                self.report(problem.code, f"{label} {problem.message}", _inside(arg, problem.at), problem.hint)
            elif problem is not None:
                self.report("E4006", f"{label} {problem}", arg)
        return arg.dtype

    def with_defaults(self, node: Call, function: Function, args, types):
        missing = function.params[len(args):]
        filled = [_default_arg(node, param) for param in missing if param.optional and param.default is not OMITTED]
        return (*args, *filled), [*types, *(arg.dtype for arg in filled)]


def _arithmetic_problem(op: str, left: DType, right: DType) -> tuple[str, str | None]:
    """Message and hint of an arithmetic operator given operands it does not take."""
    if op == "//":
        floats = FLOAT64 in (left, right)
        return (f"`//` (integer division) needs int64 operands, got {left} and {right}",
                "for float64 write `floor(a / b)` or `to_int(a / b)`" if floats else None)
    joins_strings = op == "+" and STRING in (left, right)
    return f"`{op}` needs numbers, got {left} and {right}", "join strings with concat(a, b)" if joins_strings else None


def _inside(arg: TypedExpr, at: tuple[int, int] | None):
    """The span of characters ``at`` (offsets in a constant string's value) inside the string
    literal ``arg`` when its text has no escapes (so value and text line up); else ``arg``."""
    node = arg.node
    if at is None or not isinstance(node, Literal) or node.kind != "string":
        return arg
    if node.end - node.start != len(node.value) + 2:      # escapes: offsets would not line up
        return arg
    start, end = node.start + 1 + at[0], node.start + 1 + min(at[1], len(node.value))
    return (start, end) if start < end else arg


def _default_arg(node: Call, param: Param) -> TypedExpr:
    kind = {bool: "bool", int: "int", float: "float", str: "string"}.get(type(param.default), "null")
    literal = Literal(param.default, kind, node.end, node.end)
    return TypedExpr(literal, _LITERAL_TYPES[kind], value=param.default)


def _arity_message(function: Function, count: int) -> str:
    low, high = function.min_args, function.max_args
    if high is None:
        expected = f"at least {low}"
    elif low == high:
        expected = str(low)
    else:
        expected = f"{low} to {high}"
    noun = "argument" if expected == "1" else "arguments"
    return f"`{function.name}` takes {expected} {noun}, got {count}"


def _aggregate_hint(name: str) -> str:
    scalar = {"min": "least", "max": "greatest"}.get(name)
    if scalar:
        return f"for the {'smaller' if name == 'min' else 'larger'} of several values use `{scalar}(a, b)`"
    return "define it in a feature group and reference it as `group.feature`"


def _is_bool(dtype: DType) -> bool:
    return dtype == BOOL or dtype.is_unknown


def _constant_tuple(items: tuple[TypedExpr, ...]) -> object:
    if all(item.is_constant for item in items):
        return tuple(item.value for item in items)
    return NOT_CONSTANT


def check_text(text: str, scope: Scope, context: str = "derived") -> tuple[TypedExpr | None, list[ExprIssue]]:
    """Parse and check in one step; a syntax error gives ``(None, [issue])``."""
    try:
        expr = parse_expression(text)
    except ExprSyntaxError as error:
        return None, [error.issue]
    return check_expression(expr, scope, context)
