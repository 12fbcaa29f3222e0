"""End-to-end accuracy on simulated stereo telephone calls built from real clips (fixed seed).

Noise (20 dB SNR), crosstalk (-40..-25 dB, with echo delay), 8 kHz mu-law. The
thresholds are issue 2's acceptance bar; `scripts/eval_pacing.py` prints the same
figures for 40 calls with the peers beside ours (figures in the README).
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))


@pytest.fixture(scope="module")
def scores(corpora):
    from eval_pacing import evaluate

    # truth_threshold_db=None: the "audible speech" truth (clean speech >= 3 dB above the line noise)
    return evaluate(12, seed=1, systems=("call-analyzer", "call-ai-metrics"), corpora=corpora, truth_threshold_db=None)


def test_per_channel_speech_f1_is_at_least_0_97(scores):
    ours = scores["call-analyzer"]
    assert ours["speech_f1_agent"] >= 0.97 and ours["speech_f1_customer"] >= 0.97


def test_at_least_95_percent_of_speaker_changes_have_fto_within_100_ms(scores):
    assert scores["call-analyzer"]["fto_within_100ms_share"] >= 0.95


def test_at_most_2_percent_of_speaker_changes_are_missed(scores):
    assert scores["call-analyzer"]["missed_changes_share"] <= 0.02


def test_turn_count_within_5_percent_and_talk_ratio_within_0_01(scores):
    ours = scores["call-analyzer"]
    assert ours["turn_count_error_max"] <= 0.05
    assert ours["talk_ratio_error_max"] <= 0.01


def test_ours_beats_the_call_ai_metrics_peer_on_the_same_calls(scores):
    ours, peer = scores["call-analyzer"], scores["call-ai-metrics"]
    assert ours["fto_within_100ms_share"] > peer["fto_within_100ms_share"]
    assert ours["missed_changes_share"] <= peer["missed_changes_share"]
    assert ours["speech_f1_min"] > peer["speech_f1_min"]
