"""QA scorecard: each rule type on hand-made calls, scoring, skipping, and malformed rules files."""

import textwrap

import pytest

from analyzer.errors import ConfigError
from analyzer.qa import DEFAULT_RULES_PATH, evaluate, load_default_rules, load_rules, parse_rules
from result_factory import make_result


def ruleset(*rules, version="t-1"):
    return parse_rules({"version": version, "rules": list(rules)}, source="test.toml")


def failed_ids(qa):
    return [f["rule"] for f in qa["failed"]]


def call_with(events=(), turns=None, metrics=None, **kw):
    call = make_result("c", **kw)
    call["events"] = list(events) if events else call["events"]
    if turns is not None:
        call["turns"] = turns
    call["metrics"].update(metrics or {})
    return call


def ev(kind, start, end, speaker=None, **extra):
    return {"kind": kind, "speaker": speaker, "start_s": start, "end_s": end, **extra}


def turn(speaker, start, end, label=None, conf=0.8):
    return {"index": 0, "speaker": speaker, "start_s": start, "end_s": end, "emotion_label": label,
            "emotion_confidence": conf if label else None}


def test_default_rules_file_loads_with_every_rule_type():
    rules = load_default_rules()
    assert rules.version == "default-3"
    assert {r.type for r in rules.rules} == {"metric", "dead_air", "agent_interruptions", "agent_latency",
                                             "customer_ending_angry", "agent_angry"}
    assert len({r.id for r in rules.rules}) == len(rules.rules)


def test_metric_max_rule_fails_above_and_passes_at_the_limit():
    rules = ruleset({"id": "fast", "type": "metric", "metric": "speech_rate_agent_sps", "max": 5.5,
                     "severity": "minor", "weight": 10})
    qa = evaluate(rules, call_with(metrics={"speech_rate_agent_sps": 6.1}))
    assert qa["score"] == 0.0
    assert qa["failed"][0] | {"message": None} == {"rule": "fast", "severity": "minor", "weight": 10.0, "message": None,
                                                   "value": 6.1, "threshold": 5.5, "times": []}
    assert evaluate(rules, call_with(metrics={"speech_rate_agent_sps": 5.5}))["failed"] == []


def test_metric_band_rule_fails_on_either_side():
    rules = ruleset({"id": "talk", "type": "metric", "metric": "talk_ratio_agent", "min": 0.3, "max": 0.7})
    for value, fails in ((0.2, True), (0.5, False), (0.8, True)):
        qa = evaluate(rules, call_with(metrics={"talk_ratio_agent": value}))
        assert bool(qa["failed"]) is fails
    assert evaluate(rules, call_with(metrics={"talk_ratio_agent": 0.8}))["failed"][0]["threshold"] == [0.3, 0.7]


def test_dead_air_rule_reports_each_long_silence_time_once():
    events = [ev("dead_air", 10.0, 16.0), ev("dead_air", 40.0, 65.0), ev("hold", 40.0, 65.0), ev("dead_air", 80.0, 91.5)]
    rules = ruleset({"id": "da", "type": "dead_air", "max_s": 10.0, "weight": 15})
    qa = evaluate(rules, call_with(events=events))
    (failure,) = qa["failed"]
    assert failure["times"] == [[40.0, 65.0], [80.0, 91.5]]
    assert failure["value"] == 25.0 and failure["threshold"] == 10.0
    assert "2x" in failure["message"]


def test_agent_interruption_rule_counts_only_the_agent():
    events = [ev("interruption", t, t + 0.5, "agent", other="customer", outcome="attempt") for t in (5, 15, 25, 35)]
    events.append(ev("interruption", 50, 51, "customer", other="agent", outcome="successful"))
    rules = ruleset({"id": "int", "type": "agent_interruptions", "max_count": 3})
    qa = evaluate(rules, call_with(events=events))
    assert qa["failed"][0]["value"] == 4
    assert qa["failed"][0]["times"] == [[5, 5.5], [15, 15.5], [25, 25.5], [35, 35.5]]
    only_successful = ruleset({"id": "int", "type": "agent_interruptions", "max_count": 0, "outcome": "successful"})
    assert evaluate(only_successful, call_with(events=events))["failed"] == []


def test_agent_latency_rule_flags_slow_agent_answers_only():
    events = [ev("gap", 10, 14, "agent", fto_s=4.0, other="customer"), ev("gap", 20, 21, "agent", fto_s=1.0, other="customer"),
              ev("gap", 30, 36, "customer", fto_s=6.0, other="agent"), ev("gap", 40, 43.5, "agent", fto_s=3.5, other="customer")]
    rules = ruleset({"id": "lat", "type": "agent_latency", "max_s": 3.0})
    (failure,) = evaluate(rules, call_with(events=events))["failed"]
    assert failure["times"] == [[10, 14], [40, 43.5]]
    assert failure["value"] == 4.0
    tolerant = ruleset({"id": "lat", "type": "agent_latency", "max_s": 3.0, "max_count": 2})
    assert evaluate(tolerant, call_with(events=events))["failed"] == []


def test_customer_ending_angry_by_valence_or_by_last_turns():
    rules = ruleset({"id": "end", "type": "customer_ending_angry", "valence_below": -0.3, "last_turns": 2})
    calm = [turn("customer", 0, 5, "neutral"), turn("agent", 5, 9, "neutral"), turn("customer", 10, 14, "happy"),
            turn("customer", 15, 19, "neutral")]
    assert evaluate(rules, call_with(turns=calm, metrics={"customer_valence_end": 0.1}))["failed"] == []
    assert failed_ids(evaluate(rules, call_with(turns=calm, metrics={"customer_valence_end": -0.5}))) == ["end"]
    angry_end = calm[:-1] + [turn("customer", 15, 19, "angry")]
    (failure,) = evaluate(rules, call_with(turns=angry_end, metrics={"customer_valence_end": 0.0}))["failed"]
    assert failure["times"] == [[15, 19]]


def test_agent_angry_rule_gives_times_of_confident_angry_agent_turns():
    turns = [turn("agent", 0, 4, "angry", 0.9), turn("customer", 4, 8, "angry", 0.9), turn("agent", 9, 12, "angry", 0.4),
             turn("agent", 13, 15, "neutral")]
    rules = ruleset({"id": "aa", "type": "agent_angry", "min_confidence": 0.6, "severity": "critical"})
    (failure,) = evaluate(rules, call_with(turns=turns))["failed"]
    assert failure["times"] == [[0, 4]] and failure["value"] == 1 and failure["severity"] == "critical"


def test_emotion_rules_are_skipped_not_failed_when_emotion_is_off():
    rules = ruleset({"id": "aa", "type": "agent_angry", "weight": 50},
                    {"id": "end", "type": "customer_ending_angry", "valence_below": -0.3, "weight": 50},
                    {"id": "da", "type": "dead_air", "max_s": 10.0, "weight": 10})
    qa = evaluate(rules, make_result("c", emotion=False, dead_air_s=(12.0,)))
    assert [s["rule"] for s in qa["skipped"]] == ["aa", "end"]
    assert failed_ids(qa) == ["da"] and qa["score"] == 0.0  # only the evaluated rule counts


def test_metric_rule_on_null_metric_is_skipped():
    rules = ruleset({"id": "cl", "type": "metric", "metric": "customer_latency_median_s", "max": 2.0})
    qa = evaluate(rules, call_with(metrics={"customer_latency_median_s": None}))
    assert qa["skipped"] == [{"rule": "cl", "reason": "not applicable: customer_latency_median_s is null in this call"}]
    assert qa["score"] == 100.0
    assert (qa["checked"], qa["rules"]) == (0, 1)


def test_rule_on_a_metric_with_a_reliability_note_is_not_applicable_not_passed():
    # a mono call has no interruption events (overlap is not detected): the rule must not pass on that 0
    rules = ruleset({"id": "int", "type": "agent_interruptions", "max_count": 3},
                    {"id": "talk", "type": "metric", "metric": "talk_ratio_agent", "min": 0.3, "max": 0.7},
                    {"id": "dead", "type": "dead_air", "max_s": 10.0})
    call = call_with(metrics={"talk_ratio_agent": 0.5, "interruptions_by_agent": None})
    call["unreliable_metrics"] = {
        "interruptions_by_agent": "not measured on a mono call: overlapped speech is not detected",
        "talk_ratio_agent": "more than two voices: speech was forced into two parties",
        "agent_latency_median_s": "partly measured: 2 of 9 changes to the agent have no measured gap; the others are used",
    }
    qa = evaluate(rules, call)
    assert qa["passed"] == ["dead"] and qa["failed"] == []
    assert [s["rule"] for s in qa["skipped"]] == ["int", "talk"]
    assert qa["skipped"][0]["reason"] == "not applicable: interruptions_by_agent is not measured on a mono call: overlapped speech is not detected"
    assert qa["skipped"][1]["reason"].startswith("not applicable: talk_ratio_agent is unreliable (more than two voices")
    assert (qa["checked"], qa["rules"]) == (1, 3)


def test_score_is_weighted_share_of_passed_rules_and_auto_fail_zeroes_it():
    rules = ruleset({"id": "a", "type": "metric", "metric": "speech_rate_agent_sps", "max": 5.0, "weight": 30},
                    {"id": "b", "type": "metric", "metric": "talk_ratio_agent", "max": 0.9, "weight": 70})
    call = call_with(metrics={"speech_rate_agent_sps": 6.0, "talk_ratio_agent": 0.5})
    assert evaluate(rules, call)["score"] == 70.0
    fatal = ruleset({"id": "a", "type": "metric", "metric": "speech_rate_agent_sps", "max": 5.0, "weight": 1,
                     "auto_fail": True},
                    {"id": "b", "type": "metric", "metric": "talk_ratio_agent", "max": 0.9, "weight": 99})
    qa = evaluate(fatal, call)
    assert qa["score"] == 0.0 and qa["auto_failed"] is True and qa["passed"] == ["b"]


def test_custom_message_placeholders_are_filled():
    rules = ruleset({"id": "fast", "type": "metric", "metric": "speech_rate_agent_sps", "max": 5.5,
                     "message": "Too fast: {value} > {threshold}"})
    assert evaluate(rules, call_with(metrics={"speech_rate_agent_sps": 6.25}))["failed"][0]["message"] == "Too fast: 6.25 > 5.5"


def test_yaml_rules_file_loads_like_toml(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent("""\
        version: y-1
        rules:
          - id: da
            type: dead_air
            max_s: 8
            severity: major
            weight: 5
        """))
    rules = load_rules(path)
    assert rules.version == "y-1" and rules.rules[0].param("max_s") == 8


def write(tmp_path, text, name="rules.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, """\
        version = "x"
        [[rules]]
        id = "da"
        type = "dead_air"
        max_s = = 10
        """)
    with pytest.raises(ConfigError, match=r"rules\.toml, line 5: invalid TOML"):
        load_rules(path)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "rules:\n  - id: a\n    type: [dead_air\n", name="rules.yml")
    with pytest.raises(ConfigError, match=r"rules\.yml, line \d+: invalid YAML"):
        load_rules(path)


def test_unknown_metric_is_an_error_naming_the_line(tmp_path):
    path = write(tmp_path, """\
        version = "x"

        [[rules]]
        id = "talk"
        type = "metric"
        metric = "talk_ratio"
        max = 0.7
        """)
    with pytest.raises(ConfigError, match=r"line 6: rule 'talk': unknown metric 'talk_ratio'.*talk_ratio_agent") as exc:
        load_rules(path)
    assert "\n" not in exc.value.one_line()


@pytest.mark.parametrize("body, problem", [
    ('id = "a"\ntype = "deadair"\nmax_s = 5', "unknown type 'deadair'"),
    ('id = "a"\ntype = "dead_air"', "type 'dead_air' needs 'max_s'"),
    ('id = "a"\ntype = "dead_air"\nmax_s = "ten"', "max_s must be a number"),
    ('id = "a"\ntype = "dead_air"\nmax_s = 5\nseverity = "huge"', "severity 'huge' is not one of"),
    ('id = "a"\ntype = "dead_air"\nmax_s = 5\nweight = 0', "weight must be a positive number"),
    ('id = "a"\ntype = "dead_air"\nmax_s = 5\nmax_count = 2', "unknown key 'max_count' for type 'dead_air'"),
    ('id = "a"\ntype = "metric"\nmetric = "talk_ratio_agent"\nmin = 0.8\nmax = 0.2', "min 0.8 is above max 0.2"),
    ('id = "a"\ntype = "metric"\nmetric = "talk_ratio_agent"', "needs 'min', 'max' or both"),
    ('id = "a"\ntype = "dead_air"\nmax_s = 5\nmessage = "{oops}"', "bad placeholder"),
    ('type = "dead_air"\nmax_s = 5', "has no 'id'"),
])
def test_malformed_rule_is_an_error_naming_rule_and_problem(tmp_path, body, problem):
    path = write(tmp_path, "[[rules]]\n" + body + "\n")
    with pytest.raises(ConfigError, match=r"rules\.toml.*" + problem.replace("(", r"\(").replace("{", r"\{")):
        load_rules(path)


def test_duplicate_ids_and_missing_rules_are_errors(tmp_path):
    dup = write(tmp_path, '[[rules]]\nid = "a"\ntype = "dead_air"\nmax_s = 5\n[[rules]]\nid = "a"\ntype = "dead_air"\nmax_s = 6\n')
    with pytest.raises(ConfigError, match="duplicate id"):
        load_rules(dup)
    with pytest.raises(ConfigError, match="no rules"):
        load_rules(write(tmp_path, 'version = "x"\n', name="empty.toml"))
    with pytest.raises(ConfigError, match="rules file not found"):
        load_rules(tmp_path / "nope.toml")


def test_default_rules_path_is_inside_the_package():
    assert DEFAULT_RULES_PATH.name == "default_rules.toml" and DEFAULT_RULES_PATH.parent.name == "analyzer"


def _cturn(start, end, label, p_angry):
    return {"index": 0, "speaker": "customer", "start_s": start, "end_s": end, "emotion_label": label,
            "p_angry": p_angry, "emotion_confidence": max(p_angry, 0.3)}


def test_customer_ending_angry_message_states_what_triggered_it():
    rules = ruleset({"id": "end", "type": "customer_ending_angry", "valence_below": -0.5, "last_turns": 2,
                     "min_confidence": 0.6, "message": "Customer ended the call upset: {trigger}"})
    turns = [_cturn(0, 5, "neutral", 0.1), _cturn(10, 14, "angry", 0.81), _cturn(15, 19, "neutral", 0.2)]
    (failure,) = evaluate(rules, call_with(turns=turns, metrics={"customer_valence_end": 0.06}))["failed"]
    # triggered by the last turns, not by the (positive) end valence: the message must not quote the valence
    assert failure["message"] == "Customer ended the call upset: 1 of the last 2 scored turns angry (p_angry 0.81 >= 0.6)"
    assert failure["value"] == 1 and failure["times"] == [[10, 14]]
    (by_valence,) = evaluate(rules, call_with(turns=turns[:1] + [_cturn(15, 19, "sad", 0.3)],
                                              metrics={"customer_valence_end": -0.62}))["failed"]
    assert by_valence["message"] == "Customer ended the call upset: end valence -0.62 below -0.5"
    assert by_valence["value"] == -0.62 and by_valence["threshold"] == -0.5


def test_customer_ending_angry_does_not_fire_below_the_confidence_floor():
    rules = ruleset({"id": "end", "type": "customer_ending_angry", "valence_below": -0.5, "last_turns": 2,
                     "min_confidence": 0.6})
    turns = [_cturn(0, 5, "neutral", 0.1), _cturn(10, 14, "angry", 0.55), _cturn(15, 19, "angry", 0.45)]
    assert evaluate(rules, call_with(turns=turns, metrics={"customer_valence_end": -0.3}))["failed"] == []
    loose = ruleset({"id": "end", "type": "customer_ending_angry", "last_turns": 2, "min_confidence": 0.5})
    assert failed_ids(evaluate(loose, call_with(turns=turns, metrics={"customer_valence_end": -0.3}))) == ["end"]


def test_agent_angry_uses_the_angry_probability_and_lists_it():
    turns = [{"index": 0, "speaker": "agent", "start_s": 0, "end_s": 4, "emotion_label": "angry", "p_angry": 0.58,
              "emotion_confidence": 0.58},
             {"index": 1, "speaker": "agent", "start_s": 5, "end_s": 9, "emotion_label": "angry", "p_angry": 0.45,
              "emotion_confidence": 0.45}]
    rules = ruleset({"id": "aa", "type": "agent_angry", "min_confidence": 0.5})
    (failure,) = evaluate(rules, call_with(turns=turns))["failed"]
    assert failure["message"] == "Agent sounded angry in 1 turn(s): 1 of 2 scored turns angry (p_angry 0.58 >= 0.5)"
    assert failure["times"] == [[0, 4]]


def _customer_call(p_angry_by_turn, label_of=lambda p: "angry" if p >= 0.7 else "neutral", valence=None):
    """Customer turns of 4 s each (1 s gaps), with the given p_angry; an agent turn between each."""
    turns = []
    for k, p in enumerate(p_angry_by_turn):
        turns.append({**_cturn(10 * k, 10 * k + 4, label_of(p), p), "valence": -p if valence is None else valence})
        turns.append({**turn("agent", 10 * k + 5, 10 * k + 9, "neutral"), "valence": 0.0, "p_angry": 0.05})
    return call_with(turns=turns, metrics={"customer_valence_end": valence})


RISE = {"id": "end", "type": "customer_ending_angry", "anger_rise_above": 0.15, "end_anger_above": 0.7}


def test_customer_ending_angry_fires_when_anger_in_the_last_third_rises_over_the_customers_own_baseline():
    call = _customer_call([0.1, 0.1, 0.15, 0.1, 0.2, 0.1, 0.5, 0.55, 0.6])  # last third: mean 0.55 vs 0.125 before
    (failure,) = evaluate(ruleset(RISE), call)["failed"]
    assert failure["value"] == pytest.approx(0.425) and failure["threshold"] == 0.15
    assert failure["times"] == [[60, 64], [70, 74], [80, 84]]
    assert failure["message"] == ("Customer ended the call upset: mean p_angry 0.55 over the last third of the customer's "
                                  "speech, 0.42 above the earlier turns' 0.12 (rise > 0.15)")


def test_customer_ending_angry_by_anger_rise_ignores_a_customer_who_sounds_the_same_all_call():
    # a naturally tense-sounding customer: p_angry 0.5-0.6 everywhere, no rise, and below the sustained-anger floor
    assert evaluate(ruleset(RISE), _customer_call([0.55, 0.5, 0.6, 0.55, 0.5, 0.6, 0.55, 0.5, 0.6]))["failed"] == []


def test_customer_ending_angry_fires_on_sustained_anger_at_the_end_whatever_the_baseline():
    (failure,) = evaluate(ruleset(RISE), _customer_call([0.8, 0.85, 0.8, 0.9, 0.8, 0.85, 0.8, 0.9, 0.85]))["failed"]
    assert failure["message"] == ("Customer ended the call upset: mean p_angry 0.85 over the last third of the customer's "
                                  "speech above 0.7")


def test_default_customer_ends_angry_rule_does_not_fire_on_a_calm_customer_who_sounds_sad():
    # low end valence from sad-sounding turns is not anger (issue 13: 14 of 16 calm-call false alarms were this)
    sad = _customer_call([0.05] * 9, label_of=lambda p: "sad", valence=-0.5)
    assert "customer_ends_angry" not in failed_ids(evaluate(load_default_rules(), sad))


def test_customer_ending_angry_by_anger_rise_alone_is_not_applicable_to_a_customer_with_too_little_speech():
    rules = ruleset({"id": "end", "type": "customer_ending_angry", "anger_rise_above": 0.15})
    qa = evaluate(rules, _customer_call([0.1, 0.9]))  # 8 s in 2 turns: no thirds
    assert qa["failed"] == [] and [s["rule"] for s in qa["skipped"]] == ["end"]


def test_customer_ending_angry_takes_the_last_third_from_the_calls_trajectory_settings():
    call = _customer_call([0.1] * 8 + [0.6])  # only the very last turn is angrier
    rules = ruleset({"id": "end", "type": "customer_ending_angry", "anger_rise_above": 0.3})
    assert evaluate(rules, call)["failed"] == []  # default third = the last 3 turns: mean 0.27, rise 0.17
    call["params"] = {"emotion": {"trajectory_share": 0.12}}  # as the pipeline passes [emotion] trajectory_share
    (failure,) = evaluate(rules, call)["failed"]
    assert failure["times"] == [[80, 84]] and failure["value"] == pytest.approx(0.5)


BY_MODEL = {**RISE, "by_model": {"emotion-multi-v2": {"anger_rise_above": 0.5}}}


def test_an_emotion_rules_by_model_parameters_replace_its_own_on_calls_of_that_model():
    call = _customer_call([0.1, 0.1, 0.15, 0.1, 0.2, 0.1, 0.5, 0.55, 0.6])  # rise 0.425, end 0.55
    assert [f["rule"] for f in evaluate(ruleset(BY_MODEL), call)["failed"]] == ["end"]  # no model named: its own
    call["versions"] = {"emotion_model": "emotion-multi-v2"}
    assert evaluate(ruleset(BY_MODEL), call)["failed"] == []  # multi's: rise > 0.5 only, end_anger_above not kept
    call["versions"] = {"emotion_model": "emotion-open-v2"}
    assert [f["rule"] for f in evaluate(ruleset(BY_MODEL), call)["failed"]] == ["end"]


def test_by_model_entries_are_validated_like_the_rules_own_parameters():
    with pytest.raises(ConfigError, match=r"rule 'end': by_model.emotion-multi-v2: anger_rise_above must be a number"):
        ruleset({**RISE, "by_model": {"emotion-multi-v2": {"anger_rise_above": "high"}}})
    with pytest.raises(ConfigError, match=r"by_model.m: unknown key 'max_s'"):
        ruleset({**RISE, "by_model": {"m": {"max_s": 3}}})
    with pytest.raises(ConfigError, match=r"by_model.m: needs at least one of"):
        ruleset({**RISE, "by_model": {"m": {"min_confidence": 0.5}}})
    with pytest.raises(ConfigError, match=r"unknown key 'by_model' for type 'dead_air'"):
        ruleset({"id": "d", "type": "dead_air", "max_s": 5, "by_model": {"m": {"max_s": 3}}})


def test_default_rules_give_multi_its_own_customer_ends_angry_triggers():
    rule = next(r for r in load_default_rules().rules if r.id == "customer_ends_angry")
    assert rule.for_model("emotion-multi-v2").params != rule.params
    assert rule.for_model("emotion-open-v2") is rule


def test_default_rules_give_every_model_with_its_own_decision_layer_its_own_emotion_thresholds():
    from analyzer.emotion import load_model

    rules = {r.id: r for r in load_default_rules().rules}
    for name in ("multi", "emotion-multi-v2", "emotion-multi-v3"):
        model = load_model(name)
        if model.config.get("decision"):  # thresholds chosen with that layer (tune_emotion_decision_oof.py)
            assert rules["customer_ends_angry"].for_model(model.name) is not rules["customer_ends_angry"], model.name
            assert rules["agent_angry"].for_model(model.name) is not rules["agent_angry"], model.name
