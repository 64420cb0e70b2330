"""mlc.dsl: the typed expression language used inside specs (features, filters, targeting).

Importing this package is cheap: the Lark parser is built on first use.
"""

from .ast import Binary, Call, Expr, InOp, ListLit, Literal, Ref, Unary, references, walk
from .catalogue import AGGREGATE, ANALYZER, CATALOGUE, FUNCTIONS, SCALAR, Function, Param
from .errors import CODES, ExprIssue, ExprSyntaxError
from .parser import parse_expression
from .resolve import Resolution, resolve_derived
from .scope import LayeredScope, MappingScope, Scope
from .serialize import to_json, to_source
from .typecheck import CONTEXTS, check_expression, check_text
from .typed import NOT_CONSTANT, TypedExpr
from .types import BOOL, ERROR, FLOAT64, INT64, NULL, STRING, TIMESTAMP, DType, list_of, parse_dtype

__all__ = [
    "AGGREGATE", "ANALYZER", "BOOL", "Binary", "CATALOGUE", "CODES", "CONTEXTS", "Call", "DType", "ERROR",
    "Expr", "ExprIssue", "ExprSyntaxError", "FLOAT64", "FUNCTIONS", "Function", "INT64", "InOp",
    "LayeredScope", "ListLit", "Literal", "MappingScope", "NOT_CONSTANT", "NULL", "Param", "Ref",
    "Resolution", "SCALAR", "STRING", "Scope", "TIMESTAMP", "TypedExpr", "Unary", "check_expression",
    "check_text", "list_of", "parse_dtype", "parse_expression", "references", "resolve_derived",
    "to_json", "to_source", "walk",
]
