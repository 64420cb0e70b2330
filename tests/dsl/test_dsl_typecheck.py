import pytest

from mlc.dsl import BOOL, CODES, FLOAT64, INT64, NULL, STRING, check_expression, check_text, list_of, parse_expression


def check(text, scope, context="derived"):
    typed, issues = check_text(text, scope, context)
    return typed, issues


def only(issues):
    assert len(issues) == 1, issues
    return issues[0]


@pytest.mark.parametrize(
    "text, dtype",
    [
        ("quantity + 1", INT64),
        ("quantity * quantity - 3 % 2", INT64),
        ("quantity + 1.0", FLOAT64),
        ("quantity / 2", FLOAT64),
        ("distance_km * 2", FLOAT64),
        ("-quantity", INT64),
        ("null + 1", INT64),
        ("null", NULL),
        ("coalesce(quantity, 0.5)", FLOAT64),
        ("fillna(quantity, null)", INT64),
        ("if(is_vip, 1, 2.5)", FLOAT64),
        ("if(is_vip, 'a', null)", STRING),
        ("log1p(distance_km)", FLOAT64),
        ("abs(quantity)", INT64),
        ("floor(distance_km)", INT64),
        ("round(amount, 2)", FLOAT64),
        ("clip(quantity, 0, 10)", INT64),
        ("least(quantity, 2.5)", FLOAT64),
        ("bucketize(distance_km, [1, 2, 5, 10])", INT64),
        ("hash_bucket(merchant_id, 1000)", INT64),
        ("cross(city, hour(event_time), 100)", INT64),
        ("concat(city, '_', quantity)", STRING),
        ("split_part(user_id, '@', 2)", STRING),
        ("seconds_between(event_time, pickup_time)", FLOAT64),
        ("to_timestamp(quantity) < event_time", BOOL),
        ("[1, 2.5]", list_of(FLOAT64)),
        ("standardize(log1p(distance_km))", FLOAT64),
        ("vocabulary(merchant_id, 100)", INT64),
        ("quantile_bucketize(amount, 10)", INT64),
        ("rider_activity.deliveries_1h >= 3", BOOL),
    ],
)
def test_types_and_promotion(text, dtype, scope):
    typed, issues = check(text, scope)
    assert issues == []
    assert typed.dtype == dtype


@pytest.mark.parametrize(
    "text, context, dtype",
    [
        ("count()", "aggregation", INT64),
        ("sum(quantity)", "aggregation", INT64),
        ("avg(eta_minutes)", "aggregation", FLOAT64),
        ("max(if(is_vip, amount, 0))", "aggregation", FLOAT64),
        ("last(status)", "aggregation", STRING),
        ("approx_count_distinct(merchant_id)", "aggregation", INT64),
        ("status == 'delivered' and amount > 0", "filter", BOOL),
        ("city in ['beijing', 'shanghai'] and not is_null(user_id)", "condition", BOOL),
    ],
)
def test_contexts_accept_valid_expressions(text, context, dtype, scope):
    typed, issues = check(text, scope, context)
    assert issues == [] and typed.dtype == dtype


@pytest.mark.parametrize(
    "text, context, code, span",
    [
        ("distanse_km + 1", "derived", "E4001", (0, 11)),
        ("lg1p(distance_km)", "derived", "E4002", (0, 4)),
        ("log1p(distance_km, 2)", "derived", "E4003", (0, 21)),
        ("log1p(city)", "derived", "E4004", (6, 10)),
        ("hash_bucket(city, quantity)", "derived", "E4005", (18, 26)),
        ("hash_bucket(city, 0)", "derived", "E4006", (18, 19)),
        ("bucketize(amount, [5, 1])", "derived", "E4006", (18, 24)),
        ("9223372036854775807 + 1", "derived", "E4006", (0, 23)),
        ("avg(amount)", "derived", "E4008", (0, 11)),
        ("standardize(amount)", "filter", "E4009", (0, 19)),
        ("amount + 1", "filter", "E4010", (0, 10)),
        ("if(is_vip, 1, 'x')", "derived", "E4011", (0, 18)),
        ("[1, 'x']", "derived", "E4011", (4, 7)),
        ("city + 1", "derived", "E4012", (0, 8)),
        ("is_vip < true", "derived", "E4012", (0, 13)),
        ("quantity and is_vip", "derived", "E4012", (0, 8)),
        ("sum(amount) / count()", "aggregation", "E4013", (0, 21)),
        ("sum(avg(amount))", "aggregation", "E4014", (4, 15)),
        ("standardize(vocabulary(city, 10))", "derived", "E4014", (12, 32)),
        ("quantity // 2.0", "derived", "E4012", (0, 15)),
        ("to_timestamp(city, 'yyyy-MM-dd EEE')", "derived", "E4015", (31, 34)),
        ("hour(event_time, 'Mars/Olympus')", "derived", "E4016", (17, 31)),
        ("is_null(split(city, ','))", "derived", "E4017", (8, 24)),
    ],
)
def test_error_codes(text, context, code, span, scope):
    _, issues = check(text, scope, context)
    issue = only(issues)
    assert issue.code == code and (issue.start, issue.end) == span
    assert code in CODES


def test_every_name_and_type_code_is_produced_somewhere():
    produced = {"E4001", "E4002", "E4003", "E4004", "E4005", "E4006", "E4008", "E4009", "E4010", "E4011", "E4012",
                "E4013", "E4014", "E4015", "E4016", "E4017"}
    assert produced | {"E4007"} == {code for code in CODES if code.startswith("E4")}


def test_did_you_mean_hints(scope):
    name = only(check("user_activity.click_7d", scope)[1])
    assert name.hint == "did you mean `user_activity.clicks_7d`?"
    function = only(check("bucketise(amount, [1])", scope)[1])
    assert function.hint == "did you mean `bucketize`?"
    literal = only(check("is_vip == True", scope)[1])
    assert literal.hint == "literals are lower-case: `true`"


def test_min_outside_aggregation_points_to_least(scope):
    issue = only(check("min(amount, eta_minutes)", scope)[1])
    assert issue.code == "E4008" and "least" in issue.hint


def test_all_issues_are_reported_in_position_order(scope):
    _, issues = check("lg1p(distanse_km) + hash_bucket(city, n) + 'x' * 2 + True", scope)
    assert [i.code for i in issues] == ["E4002", "E4001", "E4001", "E4012", "E4001"]
    assert [i.start for i in issues] == sorted(i.start for i in issues)


def test_errors_do_not_cascade(scope):
    _, issues = check("log1p(unknown_col) * 2 + bucketize(unknown_col, [1]) > 3", scope, "filter")
    assert [i.code for i in issues] == ["E4001", "E4001"]


def test_constant_folding(scope):
    typed, issues = check("hash_bucket(city, 10 * 100)", scope)
    assert issues == [] and typed.args[1].value == 1000
    typed, issues = check("bucketize(amount, [1, 2 + 3, -(-7)])", scope)
    assert issues == [] and typed.args[1].value == (1, 5, 7)
    typed, _ = check("-7 % 3", scope)
    assert typed.value == -1
    typed, _ = check("1 / 0", scope)
    assert typed.value is None and typed.dtype == FLOAT64
    typed, _ = check("null and false", scope)
    assert typed.value is False
    typed, _ = check("'a' in ['b', null]", scope)
    assert typed.value is None
    typed, _ = check("amount + 1", scope)
    assert not typed.is_constant


def test_defaults_are_filled_and_aliases_canonical(scope):
    typed, _ = check("round(amount)", scope)
    assert [a.value for a in typed.args[1:]] == [0] and typed.function == "round"
    typed, _ = check("fillna(amount, 0)", scope)
    assert typed.function == "coalesce"


def test_check_expression_accepts_parsed_ast(scope):
    typed, issues = check_expression(parse_expression("log(amount)"), scope, "derived")
    assert issues == [] and typed.dtype == FLOAT64


def test_unknown_context_is_a_programming_error(scope):
    with pytest.raises(ValueError):
        check_expression(parse_expression("1"), scope, "select")


def test_check_text_returns_syntax_issue(scope):
    typed, issues = check_text("a +", scope)
    assert typed is None and only(issues).code == "E3002"
