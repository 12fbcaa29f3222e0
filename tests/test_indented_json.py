"""The call JSON's text: the fast encoder writes exactly what json.dumps(indent=1, ensure_ascii=False, allow_nan=False) writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analyzer.outputs.indented_json import dumps_indent1


def _reference(value) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False, allow_nan=False)


@pytest.mark.parametrize("value", [
    {}, [], {"a": []}, {"a": {}}, [[[]]], "plain", 3, -0.0, 1e300, 1e-7, 2**70, True, None,
    {"turns": [{"start_s": 0.5, "label": "angry", "ok": True, "p": None, "n": 3}], "names": ("agent", "customer")},
    {"unicode": "é ü 对 \u2028 \"quoted\" \\ back\nslash\t\x01"},
    {"numpy_float64": np.float64(0.1), "bool_subclass_free": [False, True, 0, 1]},
], ids=lambda v: type(v).__name__)
def test_fast_json_text_equals_json_dumps_indent1(value):
    assert dumps_indent1(value) == _reference(value)


def test_what_the_fast_path_does_not_handle_is_left_to_json_dumps():
    assert dumps_indent1({1: "int key", None: [1.5]}) == _reference({1: "int key", None: [1.5]})
    with pytest.raises(ValueError, match="Out of range float"):
        dumps_indent1({"x": float("nan")})
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps_indent1({"x": object()})
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps_indent1(loop)


def test_the_sample_call_result_is_written_byte_identically(fast_config):
    from analyzer.pipeline import analyze_file

    from conftest import SAMPLE_CALL

    stored = analyze_file(SAMPLE_CALL, fast_config).to_dict()
    assert dumps_indent1(stored) == _reference(stored)
