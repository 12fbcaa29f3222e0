"""The emotion-trajectory call simulator (callsim.emotion_calls) and the emotion stage on one of its calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callsim.emotion_calls import EmotionCallParams, customer_labels, simulate_emotion_call, write_emotion_call

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
needs_turev = pytest.mark.skipif(not (CORPORA / "turev").is_dir(), reason=f"TurEV not found under {CORPORA}")


def test_customer_labels_follow_the_trajectory_in_equal_phases():
    assert customer_labels("turnaround", 6) == ["angry", "angry", "neutral", "neutral", "happy", "happy"]
    assert customer_labels("escalation", 4) == ["neutral", "neutral", "sad", "angry"]
    assert set(customer_labels("calm", 5)) == {"neutral"}


@needs_turev
def test_simulated_call_has_alternating_turns_with_the_designed_labels(tmp_path):
    call = simulate_emotion_call(EmotionCallParams(seed=4, corpus="turev", trajectory="escalation", customer_speech_s=20),
                                 corpora_root=CORPORA)
    turns = call.truth["turns"]
    assert [t["speaker"] for t in turns[:4]] == ["agent", "customer", "agent", "customer"]
    cust = [t["label"] for t in turns if t["speaker"] == "customer"]
    assert cust[0] == "neutral" and cust[-1] == "angry"
    assert {t["label"] for t in turns if t["speaker"] == "agent"} == {"neutral"}
    assert call.stereo.shape[1] == 2 and call.sample_rate_hz == 8000
    assert all(b["start_s"] > a["end_s"] for a, b in zip(turns, turns[1:]))  # gaps between turns, no overlap
    again = simulate_emotion_call(EmotionCallParams(seed=4, corpus="turev", trajectory="escalation", customer_speech_s=20),
                                  corpora_root=CORPORA)
    np.testing.assert_array_equal(call.stereo, again.stereo)  # deterministic in its seed
    wav = write_emotion_call(call, tmp_path, "c")
    assert wav.exists() and (tmp_path / "c.truth.json").exists()


@needs_turev
def test_short_call_through_the_pipeline_has_a_turnaround_or_a_null_reason(tmp_path):
    from analyzer.pipeline import analyze_file

    call = simulate_emotion_call(EmotionCallParams(seed=9, corpus="turev", trajectory="turnaround", customer_speech_s=15),
                                 corpora_root=CORPORA)
    result = analyze_file(write_emotion_call(call, tmp_path, "short")).to_dict()
    turnaround = result["metrics"]["customer_turnaround"]
    reasons = result["emotion"]["null_reasons"]
    assert (turnaround is None) == ("customer_turnaround" in reasons)
    assert turnaround != 0.0  # never a made-up zero: start and end come from different turns
