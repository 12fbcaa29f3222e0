"""The shared numpy mel filter banks against librosa's (diarizer, Whisper log-mels, v1 emotion features)."""

from __future__ import annotations

import numpy as np
import pytest

from analyzer.mel import hz_to_mel, mel_filter_bank, mel_to_hz

FRONT_ENDS = {  # (sample rate, n_fft, n_mels, fmin, fmax) of each user
    "diarizer-speaker-encoder": (16000, 400, 40, 0.0, None),
    "whisper-log-mel": (16000, 400, 80, 0.0, None),
    "emotion-v1-features": (8000, 256, 40, 250.0, 3600.0),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(FRONT_ENDS))
def test_mel_filter_bank_is_bit_identical_to_librosa(name, dtype):
    librosa = pytest.importorskip("librosa")
    rate, n_fft, n_mels, fmin, fmax = FRONT_ENDS[name]
    ours = mel_filter_bank(rate, n_fft, n_mels, fmin_hz=fmin, fmax_hz=fmax, dtype=dtype)
    theirs = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, dtype=dtype)
    assert ours.dtype == theirs.dtype and ours.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_array_equal(ours, theirs)


def test_mel_scale_is_linear_below_1khz_and_inverts():
    assert hz_to_mel(200.0) == pytest.approx(3.0)
    assert hz_to_mel(1000.0) == pytest.approx(15.0)
    assert hz_to_mel(6400.0) == pytest.approx(42.0)  # 27 mels per factor 6.4 above 1 kHz
    freqs_hz = np.array([0.0, 150.0, 999.0, 1000.0, 3400.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(freqs_hz)), freqs_hz, rtol=1e-12)


def test_mel_filter_bank_is_cached_read_only():
    bank = mel_filter_bank(16000, 400, 40)
    assert bank is mel_filter_bank(16000, 400, 40)
    with pytest.raises(ValueError):
        bank[0, 0] = 1.0
