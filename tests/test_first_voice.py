"""Agent = first voice, not first sound (issue 14): non-speech before a party's first voice is dropped."""

import numpy as np
import pytest
import soundfile as sf

from analyzer.intervals import Segment
from analyzer.vad import drop_leading_noise, voiced_frame_share

RATE = 16000


def _thump(kind: str, seconds: float = 0.34) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    if kind == "hum":  # a low-frequency knock: periodic, but below the speech band
        return (0.5 * np.sin(2 * np.pi * 90 * t) * np.exp(-t / 0.08)).astype(np.float32)
    return (0.3 * np.random.default_rng(0).standard_normal(len(t)) * np.exp(-t / 0.08)).astype(np.float32)


def test_speech_is_voiced_and_thumps_and_hum_are_not(speech_clips):
    for clip in speech_clips[:3]:
        onset = int(np.argmax(np.abs(clip) > 0.05 * np.abs(clip).max()))
        assert voiced_frame_share(clip[onset : onset + int(0.4 * RATE)], RATE) >= 0.4  # a 0.4 s opening ("Hallo")
    assert voiced_frame_share(_thump("noise"), RATE) == 0.0
    assert voiced_frame_share(_thump("hum"), RATE) == 0.0


def test_only_short_unvoiced_segments_before_each_partys_first_voice_are_dropped():
    segs = [Segment(1.0, 1.3, "agent"), Segment(2.0, 4.0, "agent"), Segment(5.0, 5.3, "agent"),
            Segment(0.5, 0.8, "customer"), Segment(4.5, 6.0, "customer")]
    unvoiced = {Segment(1.0, 1.3, "agent"), Segment(5.0, 5.3, "agent"), Segment(0.5, 0.8, "customer")}
    kept = drop_leading_noise(segs, lambda s: 0.0 if s in unvoiced else 0.6, max_s=1.0, min_voiced_share=0.2)
    # the agent's later unvoiced bit stays (only what comes before the first voice is dropped)
    assert sorted(kept) == sorted([Segment(2.0, 4.0, "agent"), Segment(5.0, 5.3, "agent"), Segment(4.5, 6.0, "customer")])


@pytest.fixture
def thump_call(speech_clips, tmp_path):
    from conftest import two_party_stereo

    stereo, turns = two_party_stereo(speech_clips[:2], speech_clips[3:5], lead_s=3.0)
    stereo = stereo * 0.5
    burst = _thump("noise")
    stereo[int(2.35 * RATE) : int(2.35 * RATE) + len(burst), 0] += burst  # a 0.34 s thump at 2.35 s, agent side
    stereo += np.random.default_rng(1).standard_normal(stereo.shape).astype(np.float32) * 1e-3
    return stereo, turns


def test_a_noise_burst_before_the_first_voice_is_not_the_agents_first_turn(thump_call, tmp_path, fast_config):
    from analyzer.pipeline import analyze_file

    stereo, _ = thump_call
    path = tmp_path / "thump.wav"
    sf.write(path, stereo, RATE)
    first = analyze_file(path, fast_config).turns[0]
    assert first["speaker"] == "agent" and first["start_s"] >= 2.9  # the voice starts at 3.0 s


def test_a_noise_burst_before_the_first_voice_does_not_name_the_agent_on_a_mono_call(thump_call, tmp_path, fast_config):
    pytest.importorskip("resemblyzer", reason="mono diarization needs resemblyzer")
    from analyzer.pipeline import analyze_file

    stereo, truth = thump_call
    path = tmp_path / "thump_mono.wav"
    sf.write(path, stereo.sum(axis=1), RATE)
    turns = analyze_file(path, fast_config).turns
    # without the check the burst became the "agent" and every later turn had the wrong party
    assert turns[0]["start_s"] >= 2.9
    assert [t["speaker"] for t in turns[:4]] == ["agent", "customer", "agent", "customer"]
