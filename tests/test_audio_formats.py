"""Every input format the SPEC lists loads; rates 8-48 kHz; stereo mapping; blocks bound memory."""

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from analyzer.audio import iter_blocks, probe, read_span
from analyzer.pipeline import analyze_file

FORMATS = [
    ("wav", "WAV", "PCM_U8", 8000),
    ("wav", "WAV", "PCM_16", 8000),
    ("wav", "WAV", "PCM_24", 16000),
    ("wav", "WAV", "PCM_32", 16000),
    ("wav", "WAV", "FLOAT", 44100),
    ("wav", "WAV", "ULAW", 8000),
    ("wav", "WAV", "ALAW", 8000),
    ("flac", "FLAC", "PCM_16", 48000),
    ("ogg", "OGG", "VORBIS", 16000),
    ("opus", "OGG", "OPUS", 48000),
    ("mp3", "MP3", "MPEG_LAYER_III", 16000),
]


@pytest.fixture(scope="module")
def call_signal(speech_clips):
    from conftest import two_party_stereo

    stereo, turns = two_party_stereo(speech_clips[:2], speech_clips[3:5])
    return stereo * 0.5, turns


@pytest.mark.parametrize("ext,fmt,subtype,rate", FORMATS, ids=[f"{f[2].lower()}-{f[3]}" for f in FORMATS])
def test_format_loads_and_finds_both_parties(tmp_path, call_signal, ext, fmt, subtype, rate, fast_config):
    import soxr

    stereo, turns = call_signal
    data = soxr.resample(stereo, 16000, rate) if rate != 16000 else stereo
    path = tmp_path / f"call.{ext}"
    sf.write(path, data, rate, format=fmt, subtype=subtype)
    info = probe(path)
    assert (info.n_channels, info.sample_rate_hz) == (2, rate)
    assert info.analysis_rate_hz == (8000 if rate == 8000 else 16000)
    result = analyze_file(path, fast_config)
    assert result.mode == "stereo"
    assert [t["speaker"] for t in result.turns] == ["agent", "customer", "agent", "customer"]
    # 8-bit PCM turns the resampler's 1e-5 pre-ringing before each onset into +-1 LSB of real signal
    slack_s = 0.15 if subtype == "PCM_U8" else 0.05
    for row, (_, start, end) in zip(result.turns, turns):
        # clips include their own leading/trailing silence, so the turn lies inside the clip span
        assert start - slack_s <= row["start_s"] and row["end_s"] <= end + slack_s + 0.1


def test_eight_khz_input_is_analysed_at_eight_khz(tmp_path, call_signal):
    import soxr

    path = tmp_path / "tel.wav"
    sf.write(path, soxr.resample(call_signal[0], 16000, 8000), 8000, subtype="ULAW")
    blocks = list(iter_blocks(probe(path), block_s=2.0))
    assert all(len(b) == 16000 for b in blocks[:-1]), "every block but the last is exactly block_s long"
    assert probe(path).analysis_rate_hz == 8000


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed: M4A/AMR decoding needs it")
@pytest.mark.parametrize("ext,codec", [("m4a", "aac"), ("gsm", "libgsm"), ("amr", "libopencore_amrnb")])
def test_ffmpeg_only_formats_decode_through_ffmpeg(tmp_path, call_signal, ext, codec, fast_config):
    wav = tmp_path / "src.wav"
    sf.write(wav, call_signal[0], 16000)
    out = tmp_path / f"call.{ext}"
    args = {"amr": ["-ar", "8000", "-ac", "1", "-b:a", "12.2k"], "gsm": ["-ar", "8000", "-ac", "1"]}.get(ext, [])
    done = subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", codec, *args, str(out)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"this ffmpeg cannot encode {codec}: {done.stderr.decode()[-200:]}")
    info = probe(out)
    assert info.decoder == ("soundfile" if ext == "gsm" else "ffmpeg")  # libsndfile reads raw GSM 6.10 itself
    result = analyze_file(out, fast_config)
    assert result.duration_s == pytest.approx(len(call_signal[0]) / 16000, abs=0.2)
    assert result.mode == ("mono" if ext in ("amr", "gsm") else "stereo")
    assert len(result.segments) >= 4


def test_mono_file_is_marked_mono_and_its_two_voices_are_separated(tmp_path, call_signal, fast_config):
    path = tmp_path / "mono.wav"
    sf.write(path, call_signal[0].sum(axis=1), 16000)
    result = analyze_file(path, fast_config)
    assert result.mode == "mono" and result.channels is None
    assert result.diarization["n_speakers_estimate"] == 2
    assert [t["speaker"] for t in result.turns] == ["agent", "customer", "agent", "customer"]
    assert 0.3 < result.metrics["talk_ratio_agent"] < 0.7


def test_channel_mapping_can_be_swapped(tmp_path, call_signal, fast_config):
    path = tmp_path / "call.wav"
    sf.write(path, call_signal[0], 16000)
    swapped = analyze_file(path, fast_config.replace(audio={"channels": ["customer", "agent"]}))
    assert swapped.turns[0]["speaker"] == "customer"
    assert swapped.channels == {"customer": 0, "agent": 1}


def test_read_span_returns_the_requested_seconds_at_analysis_rate(tmp_path, call_signal):
    path = tmp_path / "call.flac"
    sf.write(path, call_signal[0], 16000)
    span = read_span(probe(path), 1.0, 2.5)
    assert span.shape == (24000, 2)
    np.testing.assert_allclose(span, call_signal[0][16000:40000], atol=1e-4)
