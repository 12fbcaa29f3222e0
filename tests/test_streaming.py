"""Block streaming: the result does not depend on how the audio is cut into blocks."""

import pytest

from analyzer.pipeline import analyze_file
from conftest import SAMPLE_CALL


def test_small_blocks_give_the_same_turns_events_and_metrics_as_large_blocks(fast_config):
    large = analyze_file(SAMPLE_CALL, fast_config.replace(audio={"block_s": 60}))
    small = analyze_file(SAMPLE_CALL, fast_config.replace(audio={"block_s": 7}))
    assert small.segments == large.segments
    assert small.events == large.events
    assert [t["start_s"] for t in small.turns] == [t["start_s"] for t in large.turns]
    prosodic = ("pitch_", "energy_sd_", "speech_rate_", "articulation_rate_", "rate_mismatch")
    for key, value in large.metrics.items():
        if key.startswith(prosodic) and value is not None:
            # Praat's pitch path search sees differently cut runs: voicing differs in ~0.2% of frames
            assert small.metrics[key] == pytest.approx(value, rel=0.05, abs=0.05), key
        else:
            assert small.metrics[key] == value, key  # timing metrics: identical


def test_block_length_must_be_whole_seconds(fast_config):
    from analyzer.errors import ConfigError

    with pytest.raises(ConfigError, match="whole number of seconds"):
        fast_config.replace(audio={"block_s": 2.5})


def test_emotion_reads_turns_in_bounded_chunks_in_call_order():
    from analyzer.intervals import Segment
    from analyzer.pipeline import _turn_chunks
    from analyzer.turns import Turn

    turns = [Turn(i, "agent", (Segment(a, b, "agent"),)) for i, (a, b) in enumerate([(0, 10), (10, 25), (25, 60), (60, 61)])]
    assert [[t.index for t in c] for c in _turn_chunks(turns, 30.0)] == [[0, 1], [2], [3]]
    assert [[t.index for t in c] for c in _turn_chunks(turns, 1000.0)] == [[0, 1, 2, 3]]


def test_every_long_enough_turn_of_the_sample_call_gets_an_emotion_score():
    from analyzer.config import AnalysisConfig

    result = analyze_file(SAMPLE_CALL, AnalysisConfig())
    for turn in result.turns:
        if turn["duration_s"] >= 0.5:
            probs = [turn[f"p_{c}"] for c in ("neutral", "happy", "angry", "sad")]
            assert sum(probs) == pytest.approx(1.0, abs=1e-4) and turn["emotion_label"] is not None
    assert result.versions["emotion_model"] == "emotion-open-v2" and result.emotion["licence"] == "CC0-1.0"
    from analyzer.emotion import load_model
    from analyzer.emotion.encoder import ENCODER_SHA256

    # the exact heads and encoder are recorded too (a retrained model keeps its name)
    assert result.versions["emotion_weights_sha256"] == load_model("open").config["heads_sha256"]
    assert result.versions["emotion_encoder_sha256"] == ENCODER_SHA256
    assert result.metrics["customer_valence_start"] is not None
