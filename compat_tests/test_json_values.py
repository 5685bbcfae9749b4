"""JSON values survive the round trip client → cworker → client with their exact types."""

import math

import pytest

from pytest_cworker.plugin import RESULT_TIMEOUT


def assert_same_json(expected, actual, path="$"):
    """Equal *and* same JSON types at every level (True is not 1, 1.0 is not 1)."""
    assert type(actual) is type(expected), f"{path}: {actual!r} is not typed like {expected!r}"
    if isinstance(expected, dict):
        assert list(actual) == list(expected), f"{path}: keys/order differ"
        for key in expected:
            assert_same_json(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{path}: length differs"
        for index, (want, got) in enumerate(zip(expected, actual)):
            assert_same_json(want, got, f"{path}[{index}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(actual), f"{path}: {actual!r} is not NaN"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
        if isinstance(expected, float):
            assert math.copysign(1, actual) == math.copysign(1, expected), f"{path}: sign"


VALUES = {
    "ascii": "hello",
    "empty-string": "",
    "latin1": "Zoë",
    "emoji": "🚀",
    "cjk": "日本語",
    "escapes": 'quote" back\\slash\nnew\ttab\x01',
    "nul-inside": "a\u0000b",
    "zero": 0,
    "negative": -42,
    "int53-plus-one": 2**53 + 1,
    "int64-max": 2**63 - 1,
    "int64-min": -(2**63),
    "uint64-max": 2**64 - 1,
    "float-tenth": 0.1,
    "float-whole": 1.0,
    "float-negative-zero": -0.0,
    "float-huge": 1e300,
    "float-tiny": -2.5e-300,
    "float-denormal": 5e-324,
    "float-pi": math.pi,
    "true": True,
    "false": False,
    "null": None,
    "empty-list": [],
    "empty-object": {},
    "nested": {"b": [1, [2, [3, {"deep": None}]]], "a": {"z": 1, "y": 2}},
}


@pytest.mark.parametrize("value", list(VALUES.values()), ids=list(VALUES))
def test_value_round_trips_as_positional_argument(worker, tasks, value):
    result = tasks.echo.delay(value).get(timeout=RESULT_TIMEOUT)
    assert_same_json({"args": [value], "kwargs": {}}, result)


def test_unicode_round_trip_in_args_and_kwargs(worker, tasks):
    nested = {"ключ": ["值", {"emoji": "🎉", "flag": True}], "Zoë": None, "n": 1.5}
    result = tasks.echo.delay("Zoë", emoji="🚀", nested=nested).get(timeout=RESULT_TIMEOUT)
    assert_same_json({"args": ["Zoë"], "kwargs": {"emoji": "🚀", "nested": nested}}, result)


def test_non_finite_floats_round_trip(worker, tasks):
    """kombu writes NaN/Infinity as bare tokens (Python json's allow_nan)."""
    values = [math.inf, -math.inf, math.nan]
    result = tasks.echo.delay(*values).get(timeout=RESULT_TIMEOUT)
    assert_same_json({"args": values, "kwargs": {}}, result)

