from mlc.dsl import ERROR, FLOAT64, INT64, STRING, parse_expression, resolve_derived


def test_topological_order_is_stable(scope):
    features = {
        "score": "log_distance * 2 + ratio",
        "log_distance": "log1p(distance_km)",
        "ratio": "amount / (quantity + 1)",
        "city_id": "hash_bucket(city, 100)",
    }
    result = resolve_derived(features, scope)
    assert result.order == ("log_distance", "ratio", "score", "city_id")
    assert result.dependencies == {"score": ("log_distance", "ratio"), "log_distance": (), "ratio": (), "city_id": ()}
    assert result.dtypes == {"score": FLOAT64, "log_distance": FLOAT64, "ratio": FLOAT64, "city_id": INT64}
    assert result.ok and all(issues == [] for issues in result.issues.values())
    assert set(result.typed) == set(features)


def test_cycle_reported_once_with_full_path(scope):
    features = {"a": "b + 1", "b": "c * 2", "c": "a - 1", "d": "a + 1", "e": "amount"}
    result = resolve_derived(features, scope)
    cycle_issues = [(name, i) for name, issues in result.issues.items() for i in issues]
    assert len(cycle_issues) == 1
    name, issue = cycle_issues[0]
    assert name == "a" and issue.code == "E4007"
    assert issue.message == "cycle between derived features: a -> b -> c -> a"
    assert (issue.start, issue.end) == (0, 1)
    assert result.order == ("e",)
    assert result.dtypes["d"] == ERROR and result.dtypes["e"] == FLOAT64


def test_self_reference_is_a_cycle(scope):
    result = resolve_derived({"x": "amount + x"}, scope)
    issue = result.issues["x"][0]
    assert issue.message.endswith("x -> x") and (issue.start, issue.end) == (9, 10)


def test_unknown_names_suggest_derived_features_too(scope):
    result = resolve_derived({"log_distance": "log1p(distance_km)", "z": "log_distanse * 2"}, scope)
    issue = result.issues["z"][0]
    assert issue.code == "E4001" and issue.hint == "did you mean `log_distance`?"
    assert not result.ok


def test_syntax_errors_stay_with_their_feature(scope):
    result = resolve_derived({"bad": "amount +", "uses_bad": "bad * 2", "good": "upper(city)"}, scope)
    assert result.issues["bad"][0].code == "E3002"
    assert result.issues["uses_bad"] == []
    assert result.order == ("uses_bad", "good")
    assert result.dtypes["bad"] == ERROR and result.dtypes["good"] == STRING


def test_accepts_parsed_expressions_and_derived_wins_over_base(scope):
    result = resolve_derived({"amount": parse_expression("quantity * 2"), "double": "amount * 2"}, scope)
    assert result.dtypes == {"amount": INT64, "double": INT64}
    assert result.order == ("amount", "double")


def test_issue_offsets_are_inside_each_feature_text(scope):
    result = resolve_derived({"a": "amount", "b": "a + lg(a)"}, scope)
    issue = result.issues["b"][0]
    assert "a + lg(a)"[issue.start : issue.end] == "lg"
