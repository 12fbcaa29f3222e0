"""Prosody: intensity and pitch per frame, syllable nuclei, pitch and loudness statistics.

Everything lives on one frame grid: frame ``i`` covers ``[i*hop_s, (i+1)*hop_s)``
seconds from the start of the signal passed in, and every per-frame value is
measured at the frame's centre ``(i + 0.5) * hop_s``.

- Intensity follows Praat's ``To Intensity`` (Kaiser-20 window of
  ``6.4 / pitch_floor_hz`` s, i.e. an effective 3.2 / floor, window mean
  subtracted, dB re 2e-5 so a full-scale sine is ~91 dB), computed in numpy
  exactly at the frame centres. Digital silence reads 0 dB, never NaN or -inf.
- F0 is Praat's autocorrelation pitch (``To Pitch (ac)``, via
  praat-parselmouth) with the floor and ceiling of :class:`ProsodyConfig`,
  computed on the signal resampled to ``pitch_rate_hz`` (2 kHz by default:
  ample for a 500 Hz ceiling, about half the cost of 8 kHz), with Praat's
  frames placed exactly on the frame centres. NaN where unvoiced.
- Syllable nuclei are found as in de Jong & Wempe (2009): intensity peaks
  that stand out from their surroundings by ``nucleus_dip_db`` (peak
  prominence), lie above the speaker's reference level plus
  ``nucleus_threshold_db``, are voiced and lie inside the speaker's speech.

Block processing: the results for a frame depend only on the audio within
~0.15 s of it (with the default 75 Hz floor), up to Praat's pitch path
search, which couples neighbouring voiced frames. Pass
each block with at least :data:`MIN_CONTEXT_S` of audio on both sides (the
pipeline passes 0.5 s), start it on a frame boundary (with a pitch step of m
frames, e.g. 0.02 s = 2 frames, on a multiple of m frames from the start of
the file, so that Praat's frames fall on the same grid), and keep only the
block's own frames; the result matches a whole-signal analysis within
rounding for intensity and in >= 99% of frames for F0 (see the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ProsodyConfig
from .errors import AnalyzerError
from .intervals import FRAME_HOP_S

_DEFAULTS = ProsodyConfig()  # every default below comes from config.py

PRAAT_REFERENCE_PA2 = 4e-10  # (2e-5 Pa)^2: Praat's 0 dB
INTENSITY_FLOOR_DB = 0.0  # below the 16-bit noise floor; what digital silence reads
KAISER_BETA = 2 * np.pi**2 + 0.5  # Praat's intensity window (Kaiser-20)
MIN_CONTEXT_S = 0.3  # audio to pass on each side of a block for block-invariant frames
_CHUNK_FRAMES = 2048  # frames per matrix product in the intensity computation (bounds memory)
_PEAK_CHUNK = 4096  # peaks per vectorised prominence computation (bounds memory on multi-hour calls)


class ProsodyError(AnalyzerError):
    """Prosody cannot be computed with the given signal or parameters."""


@dataclass(frozen=True)
class FrameProsody:
    """Per-frame prosody of one channel; equal-length float32 arrays on the ``hop_s`` grid.

    intensity_db: Praat-style intensity in dB (re 2e-5), never NaN.
    f0_hz: fundamental frequency in Hz, NaN where unvoiced or not analysed.
    """

    intensity_db: np.ndarray
    f0_hz: np.ndarray
    hop_s: float

    @property
    def n_frames(self) -> int:
        return len(self.intensity_db)


def frame_prosody(
    signal: np.ndarray,
    sample_rate_hz: int,
    *,
    hop_s: float = FRAME_HOP_S,
    config: ProsodyConfig = _DEFAULTS,
    speech_mask: np.ndarray | None = None,
    mask_margin_s: float = 0.1,
    pitch_rate_hz: int | None = None,
    pitch_step_s: float | None = None,
) -> FrameProsody:
    """Intensity (dB) and F0 (Hz) for every whole frame of ``signal``.

    signal: 1-D float samples in [-1, 1] (mono, one party).
    sample_rate_hz: e.g. 8000 (telephone) or 16000; ``hop_s * sample_rate_hz`` must be whole.
    hop_s: frame hop in seconds; the result has ``len(signal) // round(hop_s * sample_rate_hz)`` frames.
    speech_mask: optional bool per frame; pitch is then computed only within
        ``mask_margin_s`` seconds of a True frame (F0 is NaN elsewhere), which
        saves the pitch cost of silence. Intensity is always computed everywhere.
    pitch_rate_hz: sample rate the pitch analysis runs at (>= 2 x pitch ceiling); None takes
        ``config.pitch_rate_hz``; higher is slightly more accurate and slower (see docs/prosody.md).
    pitch_step_s: Praat's pitch time step; None takes ``config.pitch_step_s``
        (0.02 s by default, half the pitch cost of 0.01 s; F0 is then
        interpolated onto the frame centres), or ``hop_s`` if the config has
        no such field. With ``hop_s`` Praat's frames sit exactly on the centres.
    """
    signal = np.asarray(signal)
    if signal.ndim != 1:
        raise ProsodyError(f"frame_prosody needs a 1-D signal (one channel), got shape {signal.shape}; pass one column")
    hop = _hop_samples(hop_s, sample_rate_hz)
    n_frames = len(signal) // hop
    if speech_mask is not None:
        speech_mask = np.asarray(speech_mask, dtype=bool)
        if len(speech_mask) != n_frames:
            raise ProsodyError(
                f"speech_mask has {len(speech_mask)} frames but the signal has {n_frames}; "
                "give one bool per frame of hop_s"
            )
    x = signal.astype(np.float64, copy=False)
    intensity = intensity_db(x, sample_rate_hz, hop_s=hop_s, pitch_floor_hz=config.pitch_floor_hz)
    if speech_mask is None:
        wanted = np.ones(n_frames, dtype=bool)
    else:
        wanted = _dilate(speech_mask, int(round(mask_margin_s / hop_s)))
    if pitch_step_s is None:
        pitch_step_s = getattr(config, "pitch_step_s", None) or hop_s
    f0 = pitch_hz(
        x, sample_rate_hz, wanted, hop_s=hop_s, pitch_floor_hz=config.pitch_floor_hz,
        pitch_ceiling_hz=config.pitch_ceiling_hz, pitch_rate_hz=pitch_rate_hz or config.pitch_rate_hz,
        pitch_step_s=pitch_step_s,
    )
    return FrameProsody(intensity.astype(np.float32), f0.astype(np.float32), hop_s)


def intensity_db(
    signal: np.ndarray, sample_rate_hz: int, *, hop_s: float = FRAME_HOP_S, pitch_floor_hz: float = _DEFAULTS.pitch_floor_hz
) -> np.ndarray:
    """Praat-style intensity (dB re 2e-5) at each frame centre ``(i + 0.5) * hop_s``.

    Window: Kaiser (beta = 2 pi^2 + 0.5) of ``6.4 / pitch_floor_hz`` s, centred on the
    frame; the window's mean is subtracted first, as Praat does. Outside the
    signal the window sees zeros. Returns float64, one value per whole frame.
    """
    hop = _hop_samples(hop_s, sample_rate_hz)
    x = np.asarray(signal, dtype=np.float64)
    n_frames = len(x) // hop
    half = max(1, int(round(3.2 / pitch_floor_hz * sample_rate_hz)))
    window = np.kaiser(2 * half, KAISER_BETA).astype(np.float32)  # symmetric, as scipy's kaiser(sym=True)
    weight = float(window.astype(np.float64).sum())
    # frame i's window covers samples [i*hop + hop//2 - half, i*hop + hop//2 + half) of x, i.e. samples
    # [i*hop + hop//2, ... + 2*half) of x padded with `half` zeros before and `half + hop` after. Done chunk by
    # chunk of frames: whole-signal temporaries (the padded copy, its cumulative sum, float32 and squared
    # copies: ~16 MB per minute of audio) cost a page fault per 4 kB on every call (glibc returns them to the
    # system when freed), ~1 s of system time per 100 minutes of stereo.
    out = np.empty(n_frames)
    n_used = n_frames * hop
    # the padded signal's running sum up to the first frame's start, accumulated in order like one cumsum
    cum_start = np.cumsum(np.concatenate([[0.0], _padded_span(x, n_used, half, 0, hop // 2)]))[-1]
    for first in range(0, n_frames, _CHUNK_FRAMES):
        last = min(first + _CHUNK_FRAMES, n_frames)
        start = first * hop + hop // 2
        stop = last * hop + hop // 2 + 2 * half
        piece = _padded_span(x, n_used, half, start, stop)
        cumulative = np.cumsum(np.concatenate([[cum_start], piece]))  # the running sum over [start, stop]
        starts = np.arange(last - first) * hop
        mean = (cumulative[starts + 2 * half] - cumulative[starts]) / (2 * half)  # unweighted, as Praat
        if last < n_frames:
            cum_start = cumulative[last * hop + hop // 2 - start]  # where the next chunk starts
        piece = piece.astype(np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(piece, 2 * half)[::hop][: last - first]
        frames_sq = np.lib.stride_tricks.sliding_window_view(np.square(piece), 2 * half)[::hop][: last - first]
        wx = (frames @ window).astype(np.float64)
        wxx = (frames_sq @ window).astype(np.float64)
        out[first:last] = (wxx - 2 * mean * wx + mean * mean * weight) / weight
    power = np.maximum(out, PRAAT_REFERENCE_PA2 * 10 ** (INTENSITY_FLOOR_DB / 10))
    return 10.0 * np.log10(power / PRAAT_REFERENCE_PA2)


def _padded_span(x: np.ndarray, n_used: int, before: int, start: int, stop: int) -> np.ndarray:
    """Samples ``[start, stop)`` of ``x[:n_used]`` padded with ``before`` zeros in front and zeros after
    (float64), without building the padded signal."""
    out = np.zeros(stop - start)
    lo, hi = max(start - before, 0), min(stop - before, n_used)
    if hi > lo:
        out[lo + before - start : hi + before - start] = x[lo:hi]
    return out


def pitch_hz(
    signal: np.ndarray,
    sample_rate_hz: int,
    wanted: np.ndarray | None = None,
    *,
    hop_s: float = FRAME_HOP_S,
    pitch_floor_hz: float = _DEFAULTS.pitch_floor_hz,
    pitch_ceiling_hz: float = _DEFAULTS.pitch_ceiling_hz,
    pitch_rate_hz: int = _DEFAULTS.pitch_rate_hz,
    pitch_step_s: float | None = None,
) -> np.ndarray:
    """Praat autocorrelation F0 (Hz) at each frame centre; NaN where unvoiced or not ``wanted``.

    The signal is resampled to ``pitch_rate_hz`` (never up), each run of
    ``wanted`` frames is analysed with enough surrounding audio for Praat's
    window, and Praat's frames are interpolated onto the frame centres
    (linearly in log frequency between two voiced frames, else the nearest
    frame's value). With ``pitch_step_s`` = ``hop_s`` (default here) Praat's
    frames fall exactly on the frame centres and no interpolation happens; with
    a step of m hops they fall on the centres of frames 0, m, 2m, ... (counted
    from the signal's start) and the frames between are interpolated.
    """
    step_s = hop_s if pitch_step_s is None else pitch_step_s
    hop = _hop_samples(hop_s, sample_rate_hz)
    n_frames = len(signal) // hop
    f0 = np.full(n_frames, np.nan)
    wanted = np.ones(n_frames, dtype=bool) if wanted is None else np.asarray(wanted, dtype=bool)
    if n_frames == 0 or not wanted.any():
        return f0
    if pitch_ceiling_hz * 2 > min(pitch_rate_hz, sample_rate_hz):
        raise ProsodyError(
            f"pitch ceiling {pitch_ceiling_hz} Hz needs a sample rate of at least {2 * pitch_ceiling_hz:g} Hz "
            f"(signal {sample_rate_hz} Hz, pitch_rate_hz {pitch_rate_hz}); lower the ceiling or raise pitch_rate_hz"
        )
    import parselmouth  # imported here: `import analyzer.prosody` stays cheap (and free of Praat) without pitch
    import soxr

    rate = min(pitch_rate_hz, sample_rate_hz)
    x = np.asarray(signal, dtype=np.float64)[: n_frames * hop]
    if rate != sample_rate_hz:
        x = soxr.resample(x, sample_rate_hz, rate)
    window_s = 3.0 / pitch_floor_hz  # Praat's AC analysis window (3 periods of the floor)
    hop_p = hop_s * rate
    margin = int(np.ceil((window_s + 2 * hop_s) * rate))
    pad = margin + 2 * int(np.ceil(max(hop_p, step_s * rate)))  # room for _aligned_span's shifts
    x = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
    origin = pad  # index in x of the signal's first sample
    for start, end in _runs_of_true(wanted):
        a, b = _aligned_span(start, end, rate=rate, hop_s=hop_s, step_s=step_s, window_s=window_s, margin=margin)
        sound = parselmouth.Sound(x[origin + a : origin + b], sampling_frequency=rate, start_time=a / rate)
        pitch = sound.to_pitch_ac(time_step=step_s, pitch_floor=pitch_floor_hz, pitch_ceiling=pitch_ceiling_hz)
        times = pitch.xs()
        values = pitch.selected_array["frequency"]
        index = np.round(times / hop_s - 0.5).astype(np.int64)
        inside = (index >= start) & (index < end)
        if step_s == hop_s and np.allclose(times, (index + 0.5) * hop_s, rtol=0.0, atol=1e-6):
            f0[index[inside]] = np.where(values[inside] > 0, values[inside], np.nan)
        else:  # coarser pitch step (or a hop of an odd number of samples): interpolate
            f0[start:end] = _sample_track(times, values, (np.arange(start, end) + 0.5) * hop_s)
    return f0


def _aligned_span(
    start: int, end: int, *, rate: int, hop_s: float, step_s: float, window_s: float, margin: int
) -> tuple[int, int]:
    """Sample span ``[a, b)`` around frames ``[start, end)`` on which Praat's frames (every
    ``step_s``) fall on the centres of frames ``0, m, 2m, ...`` (``m = step_s / hop_s``).

    Praat puts ``n = floor((duration - window) / step) + 1`` frames symmetrically
    in the sound; we pick the duration so the floor is unambiguous and then
    slide the span so the first frame lands on the grid. Being tied to the
    signal's start rather than to the span, the grid is the same for every span,
    which keeps masked and block-wise analyses equal to a whole-signal one.
    ``a`` may be negative (the caller pads the signal with zeros).
    """
    a = int(np.floor(start * hop_s * rate)) - margin
    b = int(np.ceil(end * hop_s * rate)) + margin
    steps = ((b - a) / rate - window_s) / step_s
    b += int(round((0.5 - (steps % 1.0)) * step_s * rate))
    nx = b - a
    n = int(np.floor((nx / rate - window_s) / step_s)) + 1
    first_s = a / rate + 0.5 * nx / rate - 0.5 * (n - 1) * step_s
    offset = ((first_s - 0.5 * hop_s) / step_s) % 1.0  # in steps
    shift = -int(round(offset * step_s * rate))
    return a + shift, b + shift


def _sample_track(times: np.ndarray, values_hz: np.ndarray, at_s: np.ndarray) -> np.ndarray:
    """Praat pitch frames (0 = unvoiced) sampled at ``at_s``: log-linear between voiced neighbours."""
    out = np.full(len(at_s), np.nan)
    if len(times) == 0:
        return out
    step = times[1] - times[0] if len(times) > 1 else 1.0
    pos = (at_s - times[0]) / step
    lo = np.clip(np.floor(pos).astype(int), 0, len(times) - 1)
    hi = np.clip(lo + 1, 0, len(times) - 1)
    frac = np.clip(pos - lo, 0.0, 1.0)
    inside = (pos > -0.5) & (pos < len(times) - 0.5)
    v_lo, v_hi = values_hz[lo], values_hz[hi]
    both = (v_lo > 0) & (v_hi > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        interp = np.exp2((1 - frac) * np.log2(v_lo) + frac * np.log2(v_hi))
    # nearest frame; a point midway (within rounding) takes whichever neighbour is voiced,
    # so the result does not depend on floating-point noise in the frame times
    tie = np.abs(frac - 0.5) < 1e-6
    nearest = np.where(tie, np.maximum(v_lo, v_hi), np.where(frac < 0.5, v_lo, v_hi))
    value = np.where(both, interp, np.where(nearest > 0, nearest, np.nan))
    out[inside] = value[inside]
    return out


# --- syllable nuclei -----------------------------------------------------------------------------


def speaker_intensity_reference_db(intensity_db: np.ndarray, speech_mask: np.ndarray) -> float:
    """A speaker's reference level: median intensity (dB) over their speech frames; NaN without speech.

    Compute it over all of a speaker's frames in the call, so that loud and
    quiet turns are judged against the same level.
    """
    values = np.asarray(intensity_db)[np.asarray(speech_mask, dtype=bool)]
    return float(np.median(values)) if values.size else float("nan")


def syllable_nuclei(
    intensity_db: np.ndarray,
    f0_hz: np.ndarray,
    speech_mask: np.ndarray,
    *,
    hop_s: float = FRAME_HOP_S,
    config: ProsodyConfig = _DEFAULTS,
    reference_db: float | None = None,
    max_spacing_s: float = 0.5,
    voicing_tolerance_s: float = 0.02,
) -> np.ndarray:
    """Frame indices of syllable nuclei (sorted int64), de Jong & Wempe (2009) style.

    A nucleus is a frame where intensity peaks with a prominence of at least
    ``config.nucleus_dip_db`` (it dips by that much on both sides before a
    higher peak or ``max_spacing_s`` away), at least
    ``config.nucleus_threshold_db`` above ``reference_db`` (default: the
    speaker's :func:`speaker_intensity_reference_db` over ``speech_mask``), that
    is voiced (``f0_hz`` finite within ``voicing_tolerance_s`` of the peak:
    Praat's 40 ms pitch window blurs voicing onsets, and a syllable's
    intensity peak often sits right at one) and inside ``speech_mask``.

    Pass all of one speaker's frames of a call at once (a whole-call array is fine: ~1 M frames).
    """
    intensity = np.asarray(intensity_db, dtype=np.float64)
    f0 = np.asarray(f0_hz)
    mask = np.asarray(speech_mask, dtype=bool)
    if not (len(intensity) == len(f0) == len(mask)):
        raise ProsodyError(
            f"intensity ({len(intensity)}), f0 ({len(f0)}) and speech_mask ({len(mask)}) must have one value per frame"
        )
    if not mask.any():
        return np.zeros(0, dtype=np.int64)
    if reference_db is None:
        reference_db = speaker_intensity_reference_db(intensity, mask)
    wlen = 2 * int(round(max_spacing_s / hop_s)) + 1
    peaks = find_peaks(intensity, height=reference_db + config.nucleus_threshold_db,
                       prominence=config.nucleus_dip_db, wlen=wlen)
    voiced = _dilate(np.isfinite(f0), int(round(voicing_tolerance_s / hop_s)))
    keep = mask[peaks] & voiced[peaks]
    return peaks[keep].astype(np.int64)


def find_peaks(x: np.ndarray, *, height: float, prominence: float, wlen: int) -> np.ndarray:
    """Indices of the peaks of ``x`` at least ``height`` high and ``prominence`` prominent, sorted int64.

    The same peaks as ``scipy.signal.find_peaks(x, height=height, prominence=prominence, wlen=wlen)[0]``
    (local maxima, the middle of a flat top, never the first or last sample; prominence searched
    within ``wlen // 2`` samples on each side), in numpy, without importing scipy.signal (~0.6 s
    and ~80 MB per process). ``x``: 1-D, no NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    peaks = local_maxima(x)
    peaks = peaks[x[peaks] >= height]
    return peaks[peak_prominences(x, peaks, wlen=wlen) >= prominence]


def local_maxima(x: np.ndarray) -> np.ndarray:
    """Local maxima of ``x`` (int64): samples higher than both neighbours; a flat top of several
    equal samples counts once, at its middle (left of centre for an even length); the ends never count.
    """
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 3:
        return np.zeros(0, np.int64)
    change = np.flatnonzero(x[1:] != x[:-1]) + 1
    starts = np.concatenate([[0], change])  # runs of equal values
    ends = np.concatenate([change - 1, [len(x) - 1]])
    level = x[starts]
    top = np.flatnonzero((level[1:-1] > level[:-2]) & (level[1:-1] > level[2:])) + 1
    return ((starts[top] + ends[top]) // 2).astype(np.int64)


def peak_prominences(x: np.ndarray, peaks: np.ndarray, *, wlen: int) -> np.ndarray:
    """Prominence of each peak: its height above the higher of the two lowest points reached on
    each side before a higher sample, the signal's end or ``wlen // 2`` samples (scipy's definition).
    Float64, one value per peak.
    """
    x = np.asarray(x, dtype=np.float64)
    peaks = np.asarray(peaks, dtype=np.int64)
    half = int(wlen) // 2 if wlen >= 2 else len(x)
    steps = np.arange(half + 1)
    out = np.empty(len(peaks))
    for a in range(0, len(peaks), _PEAK_CHUNK):
        chunk = peaks[a : a + _PEAK_CHUNK]
        top = x[chunk][:, None]
        side_minima = []
        for direction in (-1, 1):
            index = chunk[:, None] + direction * steps
            inside = (index >= 0) & (index < len(x))
            values = x[np.clip(index, 0, len(x) - 1)]
            stop = ~inside | (values > top)  # the walk ends before the first higher (or outside) sample
            first_stop = np.where(stop.any(axis=1), stop.argmax(axis=1), half + 1)
            lowest = np.minimum.accumulate(values, axis=1)
            side_minima.append(lowest[np.arange(len(chunk)), first_stop - 1])
        out[a : a + len(chunk)] = x[chunk] - np.maximum(side_minima[0], side_minima[1])
    return out


def count_syllables(nuclei_frames: np.ndarray, start_frame: int, end_frame: int) -> int:
    """Number of nuclei in frames ``[start_frame, end_frame)``; ``nuclei_frames`` sorted."""
    nuclei = np.asarray(nuclei_frames)
    return int(np.searchsorted(nuclei, end_frame, side="left") - np.searchsorted(nuclei, start_frame, side="left"))


# --- statistics over a frame mask ----------------------------------------------------------------


def hz_to_semitones(f0_hz: np.ndarray | float, reference_hz: float = _DEFAULTS.semitone_reference_hz) -> np.ndarray:
    """``12 * log2(f0 / reference)``; NaN where ``f0_hz`` is NaN or not positive."""
    f0 = np.asarray(f0_hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f0 > 0, 12.0 * np.log2(f0 / reference_hz), np.nan)


def pitch_stats_st(
    f0_hz: np.ndarray,
    mask: np.ndarray,
    *,
    reference_hz: float = _DEFAULTS.semitone_reference_hz,
    min_voiced_frames: int = 10,
    max_deviation_st: float | None = 9.0,
) -> tuple[float | None, float | None, float | None]:
    """``(median_st, range_st, sd_st)`` of F0 in semitones re ``reference_hz`` over voiced frames in ``mask``.

    range_st is the 90th minus the 10th percentile; sd_st the standard
    deviation. Frames more than ``max_deviation_st`` from the median are
    dropped first as pitch-tracking octave errors (a halved or doubled F0 lies
    ~12 st from the truth; on telephone speech ~3% of frames are such errors
    and would otherwise dominate range and SD); None keeps every frame.
    All three are None with fewer than ``min_voiced_frames`` voiced frames.
    """
    st = hz_to_semitones(np.asarray(f0_hz)[np.asarray(mask, dtype=bool)], reference_hz)
    st = st[np.isfinite(st)]
    if st.size < max(min_voiced_frames, 2):
        return None, None, None
    if max_deviation_st is not None:
        st = st[np.abs(st - np.median(st)) <= max_deviation_st]
    p10, p50, p90 = np.percentile(st, [10, 50, 90])
    return float(p50), float(p90 - p10), float(np.std(st))


def energy_sd_db(
    intensity_db: np.ndarray, mask: np.ndarray, *, f0_hz: np.ndarray | None = None, min_frames: int = 10
) -> float | None:
    """Standard deviation (dB) of intensity over the frames in ``mask``; None with fewer than ``min_frames``.

    With ``f0_hz`` only voiced frames count: the spread of loudness of the
    voice itself (typically 4-8 dB), rather than of speech including the
    consonants, short pauses and dips between syllables (~20 dB). Recommended.
    """
    mask = np.asarray(mask, dtype=bool)
    if f0_hz is not None:
        mask = mask & np.isfinite(np.asarray(f0_hz))
    values = np.asarray(intensity_db, dtype=np.float64)[mask]
    if values.size < max(min_frames, 2):
        return None
    return float(np.std(values))


# --- small helpers -------------------------------------------------------------------------------


def _hop_samples(hop_s: float, sample_rate_hz: int) -> int:
    hop = int(round(hop_s * sample_rate_hz))
    if hop < 1 or abs(hop - hop_s * sample_rate_hz) > 1e-6:
        raise ProsodyError(
            f"hop_s={hop_s} is not a whole number of samples at {sample_rate_hz} Hz; use e.g. hop_s={FRAME_HOP_S}"
        )
    return hop


def _dilate(mask: np.ndarray, frames: int) -> np.ndarray:
    """Mask grown by ``frames`` on both sides."""
    if frames <= 0 or not mask.any():
        return mask.copy()
    kernel = np.ones(2 * frames + 1)
    return np.convolve(mask.astype(np.float64), kernel, mode="same") > 0.5


def _runs_of_true(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))
