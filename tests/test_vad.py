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


def _telephone_clip(clips):
    """A real sentence at 8 kHz with line noise: speech, pauses and a noisy lead-in."""
    import soxr

    rng = np.random.default_rng(3)
    speech = soxr.resample(np.concatenate([np.zeros(8000, np.float32), clips[0], np.zeros(4000, np.float32), clips[3]]),
                           16000, 8000).astype(np.float32)
    return (speech + 0.003 * rng.standard_normal(len(speech))).astype(np.float32)


def test_webrtc_vad_decides_as_webrtcvads_own_is_speech_window_by_window(speech_clips):
    import webrtcvad

    from analyzer.vad import WebrtcVad, pcm16

    samples = _telephone_clip(speech_clips)
    ours = WebrtcVad(8000, frame_ms=10, mode=2, decision_ms=30)
    blocks = [samples[: 240 * 41 + 80], samples[240 * 41 + 80 :]]  # the first ends on a partial decision window
    decided = np.concatenate([ours.process(b) for b in blocks])
    reference, vad = [], webrtcvad.Vad(2)
    for block in blocks:
        pcm = (np.clip(block, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        n_dec = len(block) // 240
        for i in range(n_dec):
            reference += [vad.is_speech(pcm[i * 480 : (i + 1) * 480], 8000)] * 3
        reference += [vad.is_speech(pcm[i * 160 : (i + 1) * 160], 8000) for i in range(n_dec * 3, len(block) // 80)]
    assert decided.tolist() == reference and 0.2 < decided.mean() < 0.9
    public = WebrtcVad(8000, frame_ms=10, mode=2, decision_ms=30)
    public._process = public._handle = None  # a webrtcvad build without the private C names: the public call
    assert np.concatenate([public.process(b) for b in blocks]).tolist() == reference
    codes = np.arange(-32768, 32768, dtype=np.float32) / 32768  # every 16-bit sample, and values past the rails
    for values in (codes, np.linspace(-1.5, 1.5, 100_001, dtype=np.float32)):
        assert pcm16(values).tobytes() == (np.clip(values, -1, 1) * 32767.0).astype("<i2").tobytes()


def _voiced_frames_loop(samples, rate_hz, *, frame_s=0.04, hop_s=0.01, f0_range_hz=(75.0, 400.0), min_periodicity=0.5,
                        min_band_share=0.1):
    """voiced_frames as a plain loop over frames with np.correlate (the definition; the module does it by rows)."""
    frame, hop = int(frame_s * rate_hz), int(hop_s * rate_hz)
    samples = np.asarray(samples, dtype=np.float64)
    high_hz = min(3400.0, 0.45 * rate_hz)
    n_fft = 2 * len(samples)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate_hz)
    gain = 0.5 - 0.5 * np.cos(np.pi * np.clip(np.minimum(freqs - 300.0, high_hz - freqs) / 150.0, 0.0, 1.0))
    band = np.fft.irfft(np.fft.rfft(samples, n=n_fft) * gain, n=n_fft)[: len(samples)]
    lo, hi = int(rate_hz / f0_range_hz[1]), int(rate_hz / f0_range_hz[0])
    lags = np.arange(lo, hi + 1)
    out = []
    for a in range(0, len(samples) - frame + 1, hop):
        x = band[a : a + frame] - band[a : a + frame].mean()
        energy, raw = float(x @ x), samples[a : a + frame]
        if energy <= 1e-12 or energy < min_band_share * float(raw @ raw):
            out.append(False)
            continue
        ac = np.correlate(x, x, mode="full")[frame - 1 + lo : frame + hi]
        cum = np.concatenate([[0.0], np.cumsum(x * x)])
        out.append(bool((ac / np.sqrt(np.maximum(cum[frame - lags] * (cum[frame] - cum[lags]), 1e-24))).max() >= min_periodicity))
    return np.array(out, dtype=bool)


def test_voiced_frames_by_rows_match_the_frame_by_frame_definition(speech_clips, monkeypatch):
    from analyzer import vad

    rng = np.random.default_rng(5)
    speech = _telephone_clip(speech_clips)
    t = np.arange(12000) / 8000
    cases = [speech, speech[:319], speech[:320], speech[5000:9000],  # shorter than a frame, one frame, a stretch
             (0.2 * np.sin(2 * np.pi * 60 * t)).astype(np.float32),  # hum: little energy in the band
             (0.05 * rng.standard_normal(12000)).astype(np.float32), np.zeros(4000, np.float32)]
    monkeypatch.setattr(vad, "VOICING_ROWS", 37)  # rows judged in several parts, the last one short
    for samples in cases:
        assert np.array_equal(vad.voiced_frames(samples, 8000), _voiced_frames_loop(samples, 8000))
    flags = vad.voiced_frames(speech, 8000)
    assert 0.2 < flags.mean() < 0.8  # a real sentence with pauses: some of each
