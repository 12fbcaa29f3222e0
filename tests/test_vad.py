"""Voice activity: smoothing per SPEC, gating, and crosstalk (the other party's leak is not speech)."""

import numpy as np
import pytest
import soundfile as sf

from analyzer.intervals import Segment, frames_to_segments, gaps, overlaps, smooth_frames, support, total_s
from analyzer.pipeline import analyze_file
from analyzer.vad import estimate_leak_db, remove_crosstalk


def test_smoothing_bridges_short_silences_and_drops_short_speech():
    frames = np.array([1, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0], bool)
    out = smooth_frames(frames, 0.1, min_speech_s=0.15, min_silence_s=0.2)
    assert out.astype(int).tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]


def test_smoothing_never_bridges_leading_or_trailing_silence():
    frames = np.array([0, 1, 1, 1, 0], bool)
    out = smooth_frames(frames, 0.1, min_speech_s=0.15, min_silence_s=0.2)
    assert out.astype(int).tolist() == [0, 1, 1, 1, 0]


def test_frames_to_segments_uses_frame_edges():
    segs = frames_to_segments(np.array([0, 1, 1, 0, 0, 1], bool), 1.0, "agent")
    assert segs == [Segment(1, 3, "agent"), Segment(5, 6, "agent")]


def test_interval_operations_on_a_hand_built_timeline():
    a = [Segment(0, 2), Segment(1, 3), Segment(5, 6)]
    b = [Segment(2.5, 5.5)]
    assert support(a) == [Segment(0, 3), Segment(5, 6)]
    assert gaps(a) == [Segment(3, 5)]
    assert gaps(a, start_s=-1, end_s=7) == [Segment(-1, 0), Segment(3, 5), Segment(6, 7)]
    assert overlaps(a, b) == [Segment(2.5, 3), Segment(5, 5.5)]
    assert total_s(a) == 4


def _levels(n, talk_a, talk_b, leak_db=-30.0, speech_db=-20.0, noise_db=-70.0):
    """Frame levels of two channels where each party's speech leaks into the other at leak_db."""
    rng = np.random.default_rng(0)
    own_a = np.where(talk_a, speech_db + rng.normal(0, 3, n), -200)
    own_b = np.where(talk_b, speech_db + rng.normal(0, 3, n), -200)
    power = lambda *dbs: 10 * np.log10(sum(10 ** (d / 10) for d in dbs))  # noqa: E731
    return np.column_stack([power(own_a, own_b + leak_db, noise_db), power(own_b, own_a + leak_db, noise_db)])


def test_crosstalk_leak_is_removed_but_true_double_talk_is_kept():
    n = 3000
    talk_a = np.zeros(n, bool)
    talk_b = np.zeros(n, bool)
    talk_a[0:1000] = True
    talk_b[1000:2000] = True
    talk_a[1500:1600] = True  # a real overlap: both talk
    energy = _levels(n, talk_a, talk_b)
    detected = np.column_stack([energy[:, 0] > -60, energy[:, 1] > -60])  # a level-insensitive detector: leak fires too
    assert detected[1000:1500, 0].all(), "the fixture leaks b into a"
    assert estimate_leak_db(energy[:, 0], energy[:, 1], detected[:, 1]) == pytest.approx(-30, abs=2)
    cleaned = remove_crosstalk(energy, detected, margin_db=8.0)
    assert not cleaned[1000:1500, 0].any() and not cleaned[1600:2000, 0].any()
    assert cleaned[1500:1600, 0].mean() > 0.95, "double talk survives"
    assert cleaned[0:1000, 0].all() and cleaned[1000:2000, 1].all()


def test_without_leak_nothing_is_removed():
    n = 2000
    talk_a = np.r_[np.ones(1000, bool), np.zeros(1000, bool)]
    energy = _levels(n, talk_a, ~talk_a, leak_db=-120)
    detected = energy > -60
    assert (remove_crosstalk(energy, detected, margin_db=8.0) == detected).all()


@pytest.mark.parametrize("leak_db", [-25, -32, -40])
def test_leaked_speech_in_a_real_stereo_call_does_not_count_as_speech(tmp_path, speech_clips, fast_config, leak_db):
    from conftest import two_party_stereo

    stereo, turns = two_party_stereo(speech_clips[:3], speech_clips[3:6], rate=16000, leak_db=leak_db)
    rng = np.random.default_rng(1)
    stereo = stereo * 0.5 + rng.normal(0, 10 ** (-60 / 20), stereo.shape).astype(np.float32)
    path = tmp_path / "leaky.wav"
    sf.write(path, stereo, 16000)
    result = analyze_file(path, fast_config)
    assert [t["speaker"] for t in result.turns] == ["agent", "customer"] * 3
    for seg in result.segments:
        party = 0 if seg["speaker"] == "agent" else 1
        inside_own_clip = any(ch == party and a - 0.05 <= seg["start_s"] and seg["end_s"] <= b + 0.15 for ch, a, b in turns)
        assert inside_own_clip, f"{seg} is leak, not {seg['speaker']} speech"
    assert result.metrics["overlap_ratio"] == 0.0


def test_silero_backend_finds_the_same_turns(tmp_path, speech_clips, fast_config):
    from conftest import two_party_stereo

    stereo, truth = two_party_stereo(speech_clips[:2], speech_clips[3:5])
    path = tmp_path / "call.wav"
    sf.write(path, stereo * 0.5, 16000)
    result = analyze_file(path, fast_config.replace(vad={"backend": "silero"}))
    assert [t["speaker"] for t in result.turns] == ["agent", "customer", "agent", "customer"]
    for row, (_, start, end) in zip(result.turns, truth):
        assert start - 0.1 <= row["start_s"] < row["end_s"] <= end + 0.2


def test_numpy_morphology_gives_scipy_ndimage_results_borders_included():
    ndimage = pytest.importorskip("scipy.ndimage")
    from analyzer import vad

    rng = np.random.default_rng(0)
    for case in range(500):
        n = int(rng.integers(1, 200))
        mask = rng.random(n) < rng.uniform(0.05, 0.95)
        size = int(rng.integers(1, 25))  # even sizes too: scipy centres them at size // 2
        structure = np.ones(size, dtype=bool)
        assert np.array_equal(vad.binary_dilation(mask, size), ndimage.binary_dilation(mask, structure=structure)), case
        assert np.array_equal(vad.binary_erosion(mask, size), ndimage.binary_erosion(mask, structure=structure)), case
        assert np.array_equal(vad.binary_closing(mask, size), ndimage.binary_closing(mask, structure=structure)), case
        levels = rng.standard_normal(n).astype(np.float32)
        half = int(rng.integers(0, 6))
        assert np.array_equal(vad.running_max(levels, half_width=half),
                              ndimage.maximum_filter1d(levels, 2 * half + 1, mode="nearest")), case


def test_edges_grow_through_allowed_frames_only_from_runs_touching_speech():
    from analyzer.vad import extend_edges

    core = np.array([0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0], dtype=bool)
    allowed = np.array([0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0], dtype=bool)
    # grows 2 frames each side through allowed frames; the allowed run 9-10 does not touch speech
    assert extend_edges(core, allowed, max_frames=2).astype(int).tolist() == [0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
