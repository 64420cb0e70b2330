"""The one function catalogue: every function of the expression language, described once.

Each :class:`Function` says what it accepts, what it returns, what it does with nulls, and shows
an example.  The typechecker, the docs generator and the backends all read this table; a backend
implements a function by its canonical ``name`` (aliases such as ``fillna`` point at it).

Accepted types are written as type classes joined by ``|``: ``numeric`` (int64 or float64),
``ordered`` (numeric, string or timestamp), ``scalar`` (any non-list type), ``any``, a concrete
type name, ``list<numeric>`` or ``list<any>``.  ``null`` and already-broken arguments fit every
class. A list argument is only accepted by a parameter whose class names a list (E4017).

A parameter whose default is :data:`OMITTED` is optional and stays out of the typed tree when
it is not written (``hour(ts)`` keeps one argument; ``hour(ts, 'Asia/Shanghai')`` has two).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .types import BOOL, ERROR, FLOAT64, INT64, ORDERED, STRING, TIMESTAMP, DType, list_of, unify_all
from mlc.core.datetime_format import FormatError, compile_format
from mlc.core.suggest import closest
from mlc.core.timezones import expression_timezones
from .types import comparable

SCALAR, AGGREGATE, ANALYZER = "scalar", "aggregate", "analyzer"
KINDS = (SCALAR, AGGREGATE, ANALYZER)


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT = _NoDefault()


class _Omitted:
    def __repr__(self) -> str:
        return "OMITTED"


OMITTED = _Omitted()

_TYPE_CLASSES: dict[str, Callable[[DType], bool]] = {
    "any": lambda t: True,
    "scalar": lambda t: not t.is_list,
    "numeric": lambda t: t.is_numeric,
    "ordered": lambda t: t in ORDERED,
    "bool": lambda t: t == BOOL,
    "int64": lambda t: t == INT64,
    "float64": lambda t: t == FLOAT64,
    "string": lambda t: t == STRING,
    "timestamp": lambda t: t == TIMESTAMP,
    "list<numeric>": lambda t: t.is_list and (t.element.is_numeric or t.element.is_unknown),
    "list<any>": lambda t: t.is_list,
}


@dataclass(frozen=True)
class Problem:
    """What a constant check found, when it needs its own code or points inside a constant string
    (``at``: offsets in the string's value; the typechecker maps them into the literal)."""

    message: str
    code: str = "E4006"
    at: tuple[int, int] | None = None
    hint: str | None = None


@dataclass(frozen=True)
class Param:
    name: str
    accepts: str
    constant: bool = False
    variadic: bool = False
    min_count: int = 1
    default: object = NO_DEFAULT
    check: Callable[[object], "str | Problem | None"] | None = None

    @property
    def optional(self) -> bool:
        return self.default is not NO_DEFAULT

    def accepts_type(self, dtype: DType) -> bool:
        if dtype.is_unknown:
            return True
        return any(_TYPE_CLASSES[part.strip()](dtype) for part in self.accepts.split("|"))

    def signature(self) -> str:
        text = f"{self.name}: {'const ' if self.constant else ''}{self.accepts}"
        if self.variadic:
            return f"{text}..."
        if self.default is OMITTED:
            return f"[{text}]"
        if self.optional:
            return f"{text} = {self.default!r}"
        return text


@dataclass(frozen=True)
class Returns:
    """Return-type rule: ``infer`` gets the argument types and returns None when they don't unify."""

    describe: str
    infer: Callable[[list[DType]], DType | None]
    unified: tuple[int, int | None] = (0, None)


@dataclass(frozen=True)
class Function:
    name: str
    kind: str
    category: str
    params: tuple[Param, ...]
    returns: Returns
    nulls: str
    doc: str
    example: str
    alias_of: str | None = None
    # a rule over the typed arguments (defaults filled in) that parameter classes cannot say:
    # returns (argument index, code, message) of the first problem, or None
    arg_rule: Callable[[tuple], "tuple[int, str, str] | None"] | None = None

    @property
    def canonical(self) -> str:
        return self.alias_of or self.name

    @property
    def min_args(self) -> int:
        return sum(p.min_count if p.variadic else (0 if p.optional else 1) for p in self.params)

    @property
    def max_args(self) -> int | None:
        return None if any(p.variadic for p in self.params) else len(self.params)

    def signature(self) -> str:
        params = ", ".join(p.signature() for p in self.params)
        return f"{self.name}({params}) -> {self.returns.describe.replace('`', '')}"

    def bind(self, arg_count: int) -> list[Param] | None:
        """The parameter for each of ``arg_count`` arguments, or None when the count is wrong."""
        if arg_count < self.min_args or (self.max_args is not None and arg_count > self.max_args):
            return None
        variadic = [i for i, p in enumerate(self.params) if p.variadic]
        if not variadic:
            return list(self.params[:arg_count])
        where = variadic[0]
        before, after = self.params[:where], self.params[where + 1 :]
        middle = arg_count - len(before) - len(after)
        return [*before, *([self.params[where]] * middle), *after]


# --- return-type rules -------------------------------------------------------------------------


def fixed(dtype: DType) -> Returns:
    return Returns(str(dtype), lambda types: ERROR if any(t.is_error for t in types) else dtype)


def same_as(index: int, name: str) -> Returns:
    return Returns(f"type of `{name}`", lambda types: types[index])


def common(first: int, last: int | None, names: str) -> Returns:
    """Common type of ``types[first:last]`` (see promotion rules)."""
    return Returns(f"common type of {names}", lambda types: unify_all(types[first:last]), (first, last))


def numeric_common(names: str) -> Returns:
    return Returns(f"common numeric type of {names}", lambda types: unify_all(types))


# --- constant checks ---------------------------------------------------------------------------


def positive_int(value: object) -> str | None:
    if value is None or value <= 0:
        return f"must be a positive integer, got {value!r}"
    return None


def non_negative_int(value: object) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return f"must be a non-negative integer, got {value!r}"
    return None


def at_least_two(value: object) -> str | None:
    if value is None or value < 2:
        return f"must be at least 2, got {value!r}"
    return None


def sorted_boundaries(value: object) -> str | None:
    if not value:
        return "must not be empty"
    if any(v is None for v in value):
        return "boundaries cannot be null"
    if any(v != v for v in value):
        return "boundaries cannot be NaN"
    if any(b <= a for a, b in zip(value, value[1:])):
        return f"must be sorted strictly ascending, got {list(value)!r}"
    return None


def non_empty_string(value: object) -> str | None:
    if not value:
        return "must be a non-empty string"
    return None


def non_null(value: object) -> str | None:
    return "cannot be null" if value is None else None


def nonzero(value: object) -> str | None:
    return "must not be 0 (indexes are 1-based; negative counts from the end)" if value == 0 else None


def datetime_pattern(value: object) -> str | Problem | None:
    """A format of `to_timestamp`/`date_format`: the datetime patterns of timestamp columns
    (``mlc.core.datetime_format``, pure Python), located inside the string."""
    if value is None:
        return "cannot be null"
    try:
        compile_format(value)
    except FormatError as error:
        return Problem(f"is not a supported datetime pattern: {error}", "E4015", (error.start, error.end),
                       "e.g. \"yyyy-MM-dd'T'HH:mm:ss\" or 'yyMMddHH' (letters that are text go in '...')")
    return None


def timezone_name(value: object) -> str | Problem | None:
    """An IANA time zone both executors know (``mlc.core.timezones.expression_timezones``)."""
    if value is None:
        return "cannot be null"
    names = expression_timezones()
    if value in names:
        return None
    match = closest(value, names)
    hint = f"did you mean `{match}`?" if match else "an IANA `Area/Location` name such as 'Asia/Shanghai', or 'UTC'"
    return Problem(f"is not a known time zone: `{value}`", "E4016", None, hint)


# --- rules over several arguments (Function.arg_rule) -------------------------------------------


def _parsed_text(args: tuple) -> tuple[int, str, str] | None:
    """`to_timestamp(x, format)`: with a format, `x` is text (an int64 is read as its digits)."""
    if len(args) == 2 and not (args[0].dtype in (STRING, INT64) or args[0].dtype.is_unknown):
        return 0, "E4004", f"argument `x` of `to_timestamp` must be string or int64 with a format, got {args[0].dtype}"
    return None


def _comparable_pair(args: tuple) -> tuple[int, str, str] | None:
    if comparable(args[0].dtype, args[1].dtype, ordered=False):
        return None
    return 1, "E4004", f"argument `value` of `nullif` ({args[1].dtype}) cannot be compared with `x` ({args[0].dtype})"


def _computed_list(args: tuple) -> tuple[int, str, str] | None:
    if args[0].is_constant:
        return 0, "E4006", "argument `list` of `size` must be computed (e.g. `split(s, ',')`), not a constant"
    return None


# --- the catalogue -----------------------------------------------------------------------------

X_NUM = Param("x", "numeric")
NULL_IN_NULL_OUT = "null in, null out."


def _fn(name, kind, category, params, returns, nulls, doc, example, alias_of=None, arg_rule=None) -> Function:
    return Function(name, kind, category, tuple(params), returns, nulls, doc, example, alias_of, arg_rule)


def _math(name: str, doc: str, nulls: str, example: str, returns: Returns | None = None) -> Function:
    return _fn(name, SCALAR, "math", [X_NUM], returns or fixed(FLOAT64), nulls, doc, example)


def _cast(name: str, target: DType, doc: str, nulls: str, example: str, accepts: str = "scalar") -> Function:
    return _fn(name, SCALAR, "cast", [Param("x", accepts)], fixed(target), nulls, doc, example)


TZ = Param("tz", "string", constant=True, default=OMITTED, check=timezone_name)
IN_ZONE = (" With `tz` (a constant IANA name such as `'Asia/Shanghai'`), of the local time in that zone "
           "(its offset at that instant, daylight saving included).")


def _time_part(name: str, doc: str, example: str, local: bool = True) -> Function:
    params = [Param("ts", "timestamp"), TZ] if local else [Param("ts", "timestamp")]
    return _fn(name, SCALAR, "time", params, fixed(INT64), NULL_IN_NULL_OUT, doc + (IN_ZONE if local else ""), example)


FUNCTIONS: tuple[Function, ...] = (
    # conditional
    _fn("if", SCALAR, "conditional",
        [Param("condition", "bool"), Param("then", "any"), Param("otherwise", "any")],
        common(1, 3, "`then` and `otherwise`"),
        "A null condition counts as false (gives `otherwise`).",
        "`then` when `condition` is true, else `otherwise`. Both branches are evaluated.",
        "if(amount > 100, 'large', 'small')"),
    _fn("coalesce", SCALAR, "conditional",
        [Param("values", "any", variadic=True, min_count=2)],
        common(0, None, "the arguments"),
        "Null only when every argument is null.",
        "The first argument that is not null.",
        "coalesce(rider_activity.deliveries_1h, 0)"),
    _fn("fillna", SCALAR, "conditional",
        [Param("x", "any"), Param("value", "any")],
        common(0, 2, "`x` and `value`"),
        "Null only when both arguments are null.",
        "`x` when it is not null, else `value`: `coalesce` with exactly two arguments.",
        "fillna(rating, 4.5)", alias_of="coalesce"),
    _fn("is_null", SCALAR, "conditional", [Param("x", "any")], fixed(BOOL),
        "Never null: true for null input.",
        "Whether `x` is null.",
        "not is_null(user_id)"),
    _fn("nullif", SCALAR, "conditional", [Param("x", "scalar"), Param("value", "scalar")], same_as(0, "x"),
        "Null when `x` is null or equals `value`; a null `value` equals nothing (gives `x`).",
        "`x`, or null where `x == value` (the language's `==`: numbers compared in their common type, "
        "NaN equals NaN, `-0.0` equals `0.0`). Turns sentinel values such as `-1` or `''` into nulls.",
        "nullif(rating, -1)", arg_rule=_comparable_pair),
    # math
    _math("log", "Natural logarithm.", "null in, null out; `x <= 0` gives null.", "log(price)"),
    _math("log1p", "Natural logarithm of `1 + x`, accurate for small `x`.",
          "null in, null out; `x <= -1` gives null.", "log1p(distance_km)"),
    _math("exp", "`e` raised to `x`.", "null in, null out; overflow gives null.", "exp(score)"),
    _math("sqrt", "Square root.", "null in, null out; `x < 0` gives null.", "sqrt(area_m2)"),
    _math("sin", "Sine of `x` radians (Spark: `java.lang.Math.sin`, may differ by 1 ulp).",
          "null in, null out; `sin(±inf)` and `sin(NaN)` are NaN.", "sin(heading_rad)"),
    _math("cos", "Cosine of `x` radians (Spark: `java.lang.Math.cos`, may differ by 1 ulp).",
          "null in, null out; `cos(±inf)` and `cos(NaN)` are NaN.", "cos(heading_rad)"),
    _math("abs", "Absolute value.", NULL_IN_NULL_OUT, "abs(delta_minutes)", returns=same_as(0, "x")),
    _fn("pow", SCALAR, "math", [Param("base", "numeric"), Param("exponent", "numeric")], fixed(FLOAT64),
        "null in, null out; results that are not real numbers (e.g. `pow(-8, 0.5)`) and `pow(±1, ±inf)` "
        "give null; `pow(x, NaN)` is NaN. May differ from Spark by 1 ulp for general exponents "
        "(exact for 0, ±1, 2 and 0.5).",
        "`base` raised to `exponent`.", "pow(distance_km, 2)"),
    _fn("clip", SCALAR, "math", [X_NUM, Param("lo", "numeric"), Param("hi", "numeric")],
        numeric_common("`x`, `lo` and `hi`"),
        "Null when `x` is null; a null bound means no bound on that side; NaN counts as the greatest "
        "value; when `lo > hi` the result is `hi`.",
        "`x` limited to the range `[lo, hi]`.", "clip(eta_minutes, 0, 120)"),
    _fn("least", SCALAR, "math", [Param("values", "ordered", variadic=True, min_count=2)],
        common(0, None, "the arguments"),
        "Null arguments are skipped; null only when all are null. NaN is the greatest value; ties keep "
        "the earlier argument.",
        "The smallest argument (`min` is the aggregate).", "least(eta_minutes, 60)"),
    _fn("greatest", SCALAR, "math", [Param("values", "ordered", variadic=True, min_count=2)],
        common(0, None, "the arguments"),
        "Null arguments are skipped; null only when all are null. NaN is the greatest value; ties keep "
        "the earlier argument.",
        "The largest argument (`max` is the aggregate).", "greatest(amount, 0)"),
    _math("floor", "Largest integer not greater than `x`.",
          "null in, null out; NaN, infinities and results outside int64 give null.",
          "floor(distance_km)", returns=fixed(INT64)),
    _math("ceil", "Smallest integer not less than `x`.",
          "null in, null out; NaN, infinities and results outside int64 give null.",
          "ceil(distance_km)", returns=fixed(INT64)),
    _fn("round", SCALAR, "math", [X_NUM, Param("digits", "int64", constant=True, default=0, check=non_null)],
        same_as(0, "x"), "null in, null out; an int64 result that overflows gives null.",
        "`x` rounded to `digits` decimal places, computed on the float64 value: `|x|·10^digits` is "
        "rounded once, then halves go away from zero, so `round(1.005, 2) == 1.0`; int64 input is exact.",
        "round(amount, 2)"),
    # casts
    _cast("to_int", INT64, "Convert to int64: floats truncate toward zero, bools give 0/1, strings are an "
          "optional sign and ASCII digits with optional surrounding ASCII whitespace (`1.5`, `1e5` give "
          "null), timestamps give unix seconds (floor).",
          "null in, null out; unparseable strings, NaN and values outside int64 give null.", "to_int(rating)"),
    _cast("to_float", FLOAT64, "Convert to float64: strings in decimal or exponent notation, or "
          "`inf`/`infinity`/`nan` in any case; bools give 0.0/1.0; timestamps give unix seconds with the "
          "microsecond fraction.", "null in, null out; unparseable strings give null.", "to_float(quantity)"),
    _cast("to_string", STRING, "Convert to string: ints in decimal, bools as `true`/`false`, timestamps "
          "as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`. Floats are not accepted (Spark and Python print them "
          "differently): round or bucketize them first.", NULL_IN_NULL_OUT, "to_string(city_id)",
          accepts="string | int64 | bool | timestamp"),
    _cast("to_bool", BOOL, "Convert to bool: numbers are true when non-zero; strings `true`/`false` "
          "(any case, surrounding ASCII whitespace allowed) are parsed; timestamps are true unless the epoch.",
          "null in, null out; other strings give null.", "to_bool(is_vip)"),
    _fn("to_timestamp", SCALAR, "cast",
        [Param("x", "scalar"), Param("format", "string", constant=True, default=OMITTED, check=datetime_pattern)],
        fixed(TIMESTAMP),
        "null in, null out; unparseable strings, invalid dates and instants outside years 0001-9999 give null.",
        "Convert to timestamp: numbers are unix seconds (UTC; floats floored to microseconds), strings "
        "`YYYY-MM-DD[(T| )HH:MM:SS[.f{1,6}][Z|±HH:MM]]`. With a constant `format` (then `x` is a string, "
        "or an int64 read as its decimal digits): a Spark datetime pattern of the fields `yyyy`, `yy` (2000-2099), "
        "`MM`, `dd`, `HH`, `mm`, `ss`, `S`..`SSSSSS` (1 to n digits), `XXX` (`Z` or `±HH:MM`) and literal "
        "text (`'T'`, punctuation), read exactly as a timestamp column's `format:` (surrounding whitespace "
        "ignored, missing fields 1970-01-01 00:00:00, UTC unless `XXX`); other patterns are refused (E4015).",
        "to_timestamp(created_at)", arg_rule=_parsed_text),
    # bucketing
    _fn("bucketize", SCALAR, "bucketing",
        [X_NUM, Param("boundaries", "list<numeric>", constant=True, check=sorted_boundaries)], fixed(INT64),
        "null in, null out; NaN gives null; -inf gives 0 and +inf gives `len(boundaries)`.",
        "Index of the bucket holding `x`: 0 below the first boundary, `i` when "
        "`boundaries[i-1] <= x < boundaries[i]`, `len(boundaries)` at or above the last.",
        "bucketize(distance_km, [1, 2, 5, 10])"),
    _fn("hash_bucket", SCALAR, "bucketing",
        [Param("x", "string | int64 | bool | timestamp"), Param("n", "int64", constant=True, check=positive_int)], fixed(INT64),
        "Never null: a null `x` goes to bucket 0.",
        "Bucket in `[0, n)`: `pmod(xxhash64(utf8(to_string(x)), seed 42), n)` - ints in decimal, bools "
        "`true`/`false`, timestamps ISO-8601 UTC. Floats are not accepted: bucketize them first.",
        "hash_bucket(merchant_id, 1000)"),
    _fn("cross", SCALAR, "bucketing",
        [Param("values", "string | int64 | bool | timestamp", variadic=True, min_count=2),
         Param("n", "int64", constant=True, check=positive_int)], fixed(INT64),
        "Never null: if any value is null the result is bucket 0.",
        "Feature cross: bucket in `[0, n)` of the hash of all values together (string forms joined "
        "with `\\u0001`).",
        "cross(city, hour(event_time), 10000)"),
    # strings
    _fn("lower", SCALAR, "string", [Param("s", "string")], fixed(STRING), NULL_IN_NULL_OUT,
        "Lower-case `s` with Java's (Spark's) case mapping; `Σ` always becomes `σ` (no final-sigma rule).",
        "lower(city)"),
    _fn("upper", SCALAR, "string", [Param("s", "string")], fixed(STRING), NULL_IN_NULL_OUT,
        "Upper-case `s`.", "upper(country_code)"),
    _fn("length", SCALAR, "string", [Param("s", "string")], fixed(INT64), NULL_IN_NULL_OUT,
        "Number of characters in `s`.", "length(query)"),
    _fn("substr", SCALAR, "string",
        [Param("s", "string"), Param("start", "int64"), Param("len", "int64")], fixed(STRING),
        "null in, null out; a start past the end gives an empty string; `start` and `len` are clamped to 32 bits.",
        "`len` characters of `s` from the 1-based `start` (negative counts from the end), as in Spark.",
        "substr(postcode, 1, 3)"),
    _fn("concat", SCALAR, "string", [Param("values", "string | int64 | bool | timestamp", variadic=True, min_count=2)], fixed(STRING),
        "Null when any argument is null.",
        "String forms of the arguments joined together (see `to_string`).",
        "concat(city, '_', to_string(hour(event_time)))"),
    _fn("replace", SCALAR, "string",
        [Param("s", "string"), Param("search", "string"), Param("replacement", "string")], fixed(STRING),
        "null in, null out (any argument).",
        "`s` with every occurrence of `search` replaced by `replacement`, left to right, not overlapping. "
        "Literal text, not a regular expression. An empty `search` leaves `s` unchanged (Spark's rule).",
        "replace(query, '+', ' ')"),
    _fn("split", SCALAR, "string",
        [Param("s", "string"), Param("sep", "string", constant=True, check=non_empty_string)],
        fixed(list_of(STRING)), "null in, null out.",
        "The parts of `s` split on the literal `sep` (not a regex), empty parts included (`''` has the one "
        "part `''`), as `split_part` numbers them. A list is only the argument of `size`.",
        "size(split(query, ' '))"),
    _fn("size", SCALAR, "string", [Param("list", "list<any>")], fixed(INT64), "null in, null out.",
        "Number of items of a computed list (`size(split(s, sep))` is the number of `sep` in `s` plus one).",
        "size(split(query, ' '))", arg_rule=_computed_list),
    _fn("split_part", SCALAR, "string",
        [Param("s", "string"), Param("sep", "string", constant=True, check=non_empty_string),
         Param("index", "int64", check=nonzero)], fixed(STRING),
        "null in, null out; an index of 0 or outside the parts gives null.",
        "Part number `index` (1-based; negative counts from the end) of `s` split on the literal `sep`.",
        "split_part(email, '@', 2)"),
    # time (UTC unless a zone is given)
    _time_part("hour", "Hour of the day, 0-23 (UTC).", "hour(event_time, 'Asia/Shanghai')"),
    _time_part("day_of_week", "ISO day of the week: 1 = Monday ... 7 = Sunday (UTC).", "day_of_week(event_time)"),
    _time_part("day_of_month", "Day of the month, 1-31 (UTC).", "day_of_month(event_time)"),
    _time_part("unix_seconds", "Whole seconds since 1970-01-01T00:00:00Z (floor).", "unix_seconds(event_time)",
               local=False),
    _fn("make_timestamp", SCALAR, "time",
        [Param("year", "int64"), Param("month", "int64"), Param("day", "int64"),
         Param("hour", "int64", default=0), Param("minute", "int64", default=0),
         Param("second", "int64", default=0)], fixed(TIMESTAMP),
        "null in, null out; a date that does not exist (Feb 30, month 13), a year outside 1-9999, an hour "
        "outside 0-23, a minute or second outside 0-59 give null.",
        "The UTC instant of a proleptic Gregorian date and time of day.",
        "make_timestamp(2024, 2, 29)"),
    _fn("date_format", SCALAR, "time",
        [Param("ts", "timestamp"), Param("format", "string", constant=True, check=datetime_pattern), TZ],
        fixed(STRING), NULL_IN_NULL_OUT,
        "`ts` written in `format`, the patterns of `to_timestamp`: `yyyy` 4 digits (5 past year 9999), "
        "`yy` the last 2 digits of the year, `MM dd HH mm ss` 2 digits, `S`..`SSSSSS` the first 1-6 digits "
        "of the microseconds, `XXX` the offset (`Z` in UTC, else `±HH:MM`), quoted text as written. UTC, "
        "or the local time of a constant IANA zone `tz`.",
        "date_format(event_time, 'yyyy-MM-dd', 'Europe/Berlin')"),
    _fn("seconds_between", SCALAR, "time", [Param("a", "timestamp"), Param("b", "timestamp")], fixed(FLOAT64),
        NULL_IN_NULL_OUT, "Seconds from `a` to `b` (`b - a`; negative when `b` is earlier).",
        "seconds_between(order_time, pickup_time)"),
    # aggregates
    _fn("count", AGGREGATE, "aggregate", [], fixed(INT64), "Never null: 0 for an empty window.",
        "Number of rows in the window.", "count()"),
    _fn("sum", AGGREGATE, "aggregate", [X_NUM], same_as(0, "x"),
        "Nulls are skipped; null when the window has no non-null value.", "Sum of `x`.", "sum(amount)"),
    _fn("avg", AGGREGATE, "aggregate", [X_NUM], fixed(FLOAT64),
        "Nulls are skipped; null when the window has no non-null value.", "Mean of `x`.", "avg(eta_minutes)"),
    _fn("min", AGGREGATE, "aggregate", [Param("x", "ordered")], same_as(0, "x"),
        "Nulls are skipped; null when the window has no non-null value.", "Smallest `x`.", "min(price)"),
    _fn("max", AGGREGATE, "aggregate", [Param("x", "ordered")], same_as(0, "x"),
        "Nulls are skipped; null when the window has no non-null value.", "Largest `x`.", "max(price)"),
    _fn("last", AGGREGATE, "aggregate", [Param("x", "scalar")], same_as(0, "x"),
        "Nulls are skipped; null when the window has no non-null value.",
        "Value of `x` in the latest row by event time.", "last(status)"),
    _fn("approx_count_distinct", AGGREGATE, "aggregate", [Param("x", "scalar")], fixed(INT64),
        "Nulls are not counted; 0 for an empty window.",
        "Approximate number of distinct `x` (HyperLogLog++, relative error about 5 %).",
        "approx_count_distinct(merchant_id)"),
    # analyzers
    _fn("standardize", ANALYZER, "analyzer", [X_NUM], fixed(FLOAT64),
        "null in, null out; nulls, NaN and infinities are ignored when fitting.",
        "`(x - mean) / stddev` with mean and population stddev fitted on the training data; 0.0 when the "
        "stddev is 0.", "standardize(log1p(distance_km))"),
    _fn("min_max_scale", ANALYZER, "analyzer", [X_NUM], fixed(FLOAT64),
        "null in, null out; nulls, NaN and infinities are ignored when fitting.",
        "`(x - min) / (max - min)` with min and max fitted on the training data (not clipped); 0.0 when "
        "max equals min.", "min_max_scale(price)"),
    _fn("min_max", ANALYZER, "analyzer", [X_NUM], fixed(FLOAT64),
        "null in, null out; nulls, NaN and infinities are ignored when fitting.",
        "Another name for `min_max_scale`.", "min_max(price)", alias_of="min_max_scale"),
    _fn("vocabulary", ANALYZER, "analyzer",
        [Param("x", "string | int64"), Param("top_k", "int64", constant=True, check=positive_int),
         Param("min_count", "int64", constant=True, default=1, check=positive_int),
         Param("oov_buckets", "int64", constant=True, default=0, check=non_negative_int)], fixed(INT64),
        "Never null: null and out-of-vocabulary values get id 0, or with `oov_buckets` > 0 an "
        "out-of-vocabulary value gets `len(vocabulary) + 1 + pmod(xxhash64(to_string(x)), oov_buckets)`.",
        "Id of `x` in the vocabulary of its `top_k` most frequent training values seen at least "
        "`min_count` times: 1 for the most frequent (ties broken by value, ascending).",
        "vocabulary(merchant_category, 1000)"),
    _fn("quantile_bucketize", ANALYZER, "analyzer",
        [X_NUM, Param("n", "int64", constant=True, check=at_least_two)], fixed(INT64),
        "null in, null out; nulls, NaN and infinities are ignored when fitting.",
        "Bucket in `[0, n)` by `n - 1` approximate quantile boundaries (rank error at most N/10000, "
        "de-duplicated, so fewer when quantiles coincide) fitted on the training data "
        "(as `bucketize`).", "quantile_bucketize(order_value, 10)"),
)

CATALOGUE: dict[str, Function] = {f.name: f for f in FUNCTIONS}
CATEGORY_TITLES = {
    "conditional": "Conditionals and nulls",
    "math": "Math",
    "cast": "Casts",
    "bucketing": "Bucketing and hashing",
    "string": "Strings",
    "time": "Time (UTC unless a zone is given)",
    "aggregate": "Aggregates",
    "analyzer": "Analyzers",
}


def lookup(name: str) -> Function | None:
    return CATALOGUE.get(name)


def names(kind: str | None = None) -> list[str]:
    return [f.name for f in FUNCTIONS if kind is None or f.kind == kind]
