"""Voice activity: per-channel frame decisions, crosstalk removal, smoothing.

Streaming detectors (:class:`WebrtcVad`, :class:`SileroVad`) turn blocks of
samples into one boolean per frame of ``frame_ms``; they keep their state
across blocks so a long call is processed block by block. The rest of the
module is pure functions over whole-call frame arrays (100 frames per second
at 10 ms: a 3-hour call is ~1 M frames, a few MB).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .config import VadConfig
from .errors import AnalyzerError
from .intervals import FRAME_HOP_S, Segment, frames_to_segments, hop_samples, segments_to_frames, smooth_frames

SILENT_DB = -120.0


def frame_energy_db(samples: np.ndarray, hop: int) -> np.ndarray:
    """RMS level in dBFS of consecutive non-overlapping frames of ``hop`` samples.

    ``samples``: 1-D float32 in [-1, 1]; trailing samples short of a frame are ignored.
    """
    n = len(samples) // hop
    frames = samples[: n * hop].reshape(n, hop)
    power = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / hop  # float64 sums, no float64 copy (5x faster)
    return (10.0 * np.log10(np.maximum(power, 10 ** (SILENT_DB / 10)))).astype(np.float32)


class WebrtcVad:
    """webrtcvad over consecutive frames of one channel, state kept across blocks.

    webrtcvad decides on ``decision_ms`` frames (10, 20 or 30); each decision is
    repeated over the ``frame_ms`` analysis frames it covers. Blocks handed to
    :meth:`process` must be whole multiples of ``decision_ms``, except the last.
    """

    def __init__(self, sample_rate_hz: int, *, frame_ms: int, mode: int, decision_ms: int | None = None):
        import webrtcvad

        decision_ms = decision_ms or frame_ms
        if decision_ms % frame_ms:
            raise ValueError(f"webrtc decision_ms {decision_ms} must be a multiple of frame_ms {frame_ms}")
        self._vad = webrtcvad.Vad(mode)
        try:  # what Vad.is_speech calls: webrtcvad's own C module and the wrapper's handle (private names)
            import _webrtcvad

            self._process, self._handle = _webrtcvad.process, self._vad._vad
        except (ImportError, AttributeError):  # another build of webrtcvad: the public call per window
            self._process = self._handle = None
        self._rate = sample_rate_hz
        self._hop = hop_samples(sample_rate_hz, frame_ms / 1000)
        self._repeat = decision_ms // frame_ms

    def process(self, samples: np.ndarray) -> np.ndarray:
        """One bool per whole ``frame_ms`` frame of ``samples`` (float32 in [-1, 1])."""
        pcm = memoryview(pcm16(samples)).cast("B")
        n = len(samples) // self._hop
        window = self._hop * self._repeat
        n_dec = len(samples) // window
        decisions = np.array(self._decide(pcm, window, n_dec), dtype=bool)
        frames = np.repeat(decisions, self._repeat)
        if len(frames) < n:  # a last partial decision window: decide on the whole frames left
            tail = pcm[n_dec * self._repeat * 2 * self._hop :]
            frames = np.concatenate([frames, np.array(self._decide(tail, self._hop, n - len(frames)), dtype=bool)])
        return frames

    def _decide(self, pcm: memoryview, window: int, count: int) -> list[int]:
        """webrtcvad's decision on each of the first ``count`` windows of ``window`` samples of ``pcm``
        (16-bit bytes), by the C function ``webrtcvad.Vad.is_speech`` wraps: the same decisions
        (tested), without the wrapper's Python call per window (~0.1 s per 100 minutes of stereo)."""
        step = 2 * window
        process, handle, rate = self._process, self._handle, self._rate
        if process is None:
            is_speech = self._vad.is_speech
            return [is_speech(pcm[i * step : (i + 1) * step], rate) for i in range(count)]
        return [process(handle, rate, pcm[i * step : (i + 1) * step], window) for i in range(count)]


def pcm16(samples: np.ndarray) -> np.ndarray:
    """float samples in [-1, 1] -> 16-bit PCM as webrtcvad takes it: clipped, times 32767, truncated
    (the float32 arithmetic of ``(np.clip(samples, -1, 1) * 32767.0).astype('<i2')``, done in place)."""
    scaled = np.clip(samples, -1.0, 1.0)
    scaled *= 32767.0
    return scaled.astype("<i2")


class SileroVad:
    """silero-vad (weights ship inside the ``silero-vad`` wheel) over one channel.

    Silero scores chunks of 512 samples at 16 kHz (256 at 8 kHz, 32 ms); each
    chunk's probability is spread over the ``frame_ms`` frames it covers.
    """

    def __init__(self, sample_rate_hz: int, *, frame_ms: int, threshold: float):
        import torch
        from silero_vad import load_silero_vad

        self._torch = torch
        self._model = load_silero_vad(onnx=False)
        self._model.reset_states()
        self._rate = sample_rate_hz
        self._chunk = 512 if sample_rate_hz == 16000 else 256
        self._hop = hop_samples(sample_rate_hz, frame_ms / 1000)
        self._threshold = threshold
        self._carry = np.zeros(0, dtype=np.float32)
        self._probs_carry = np.zeros(0, dtype=np.float32)

    def process(self, samples: np.ndarray) -> np.ndarray:
        data = np.concatenate([self._carry, samples.astype(np.float32)])
        n_chunks = len(data) // self._chunk
        self._carry = data[n_chunks * self._chunk :]
        probs = np.empty(n_chunks, dtype=np.float32)
        with self._torch.inference_mode():
            for i in range(n_chunks):
                chunk = self._torch.from_numpy(data[i * self._chunk : (i + 1) * self._chunk].copy())
                probs[i] = float(self._model(chunk, self._rate))
        per_sample = np.concatenate([self._probs_carry, np.repeat(probs, self._chunk)])
        n_frames = len(samples) // self._hop
        # frames are aligned with the samples handed in; pad with the last probability when silero lags
        needed = n_frames * self._hop
        if len(per_sample) < needed:
            fill = per_sample[-1] if len(per_sample) else 0.0
            per_sample = np.concatenate([per_sample, np.full(needed - len(per_sample), fill, np.float32)])
        self._probs_carry = per_sample[needed:]
        frame_probs = per_sample[:needed].reshape(n_frames, self._hop).mean(axis=1)
        return frame_probs >= self._threshold


SILERO_CHUNK_SAMPLES = {16000: 512, 8000: 256}  # silero-vad's chunk per call of the network (32 ms)
SILERO_CONTEXT_SAMPLES = {16000: 64, 8000: 32}  # samples of the previous chunk it sees with each chunk


def silero_onnx_path() -> Path:
    """The ONNX export of silero-vad that ships inside the ``silero-vad`` wheel (found without importing the
    package, which would import torch)."""
    import importlib.util

    spec = importlib.util.find_spec("silero_vad")
    if spec is None or spec.origin is None:
        raise AnalyzerError("silero-vad is not installed; pip install silero-vad (its wheel holds the noise check's network)")
    path = Path(spec.origin).parent / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise AnalyzerError(f"silero-vad's ONNX network is missing from its wheel: {path}")
    return path


@functools.lru_cache(maxsize=2)
def silero_onnx(sample_rate_hz: int) -> "SileroOnnx":
    """The process's one :class:`SileroOnnx` per rate (loaded on first use, never at import)."""
    return SileroOnnx(sample_rate_hz)


class SileroOnnx:
    """silero-vad's network through onnxruntime, one thread, on independent windows of one rate.

    No torch: loading takes ~0.3 s and ~40 MB. :meth:`window_probabilities` runs many windows side by
    side (the batch dimension; ~2.5x cheaper per second of audio than one stream at a time).
    """

    def __init__(self, sample_rate_hz: int, *, batch: int = 64):
        import onnxruntime

        if sample_rate_hz not in SILERO_CHUNK_SAMPLES:
            raise ValueError(f"silero-vad runs at 8000 or 16000 Hz, not {sample_rate_hz}")
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = options.intra_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(silero_onnx_path()), sess_options=options,
                                                     providers=["CPUExecutionProvider"])
        self.rate_hz = sample_rate_hz
        self.chunk = SILERO_CHUNK_SAMPLES[sample_rate_hz]
        self._context = SILERO_CONTEXT_SAMPLES[sample_rate_hz]
        self._batch = batch

    def window_probabilities(self, windows: np.ndarray) -> np.ndarray:
        """Speech probability (0..1) of every chunk of every window, each window from a fresh state.

        ``windows``: ``(n_windows, n_samples)`` float32, ``n_samples`` a multiple of :attr:`chunk`.
        Returns ``(n_windows, n_samples // chunk)``.
        """
        n_windows, n_samples = windows.shape
        n_chunks = n_samples // self.chunk
        out = np.zeros((n_windows, n_chunks), np.float32)
        rate = np.array(self.rate_hz, dtype=np.int64)
        for first in range(0, n_windows, self._batch):
            part = windows[first : first + self._batch].astype(np.float32)
            size = len(part)
            state = np.zeros((2, size, 128), np.float32)
            context = np.zeros((size, self._context), np.float32)
            for k in range(n_chunks):
                chunk = part[:, k * self.chunk : (k + 1) * self.chunk]
                probs, state = self._session.run(None, {"input": np.concatenate([context, chunk], axis=1),
                                                        "state": state, "sr": rate})
                out[first : first + size, k] = probs[:, 0]
                context = chunk[:, -self._context :]
        return out


def window_starts(wanted: np.ndarray, *, window_frames: int) -> np.ndarray:
    """First frame of each ``window_frames`` tile of the frame grid that holds a ``wanted`` frame."""
    n_tiles = -(-len(wanted) // window_frames)
    padded = np.zeros(n_tiles * window_frames, dtype=bool)
    padded[: len(wanted)] = wanted
    return np.flatnonzero(padded.reshape(n_tiles, window_frames).any(axis=1)) * window_frames


def frame_speech_probabilities(model: SileroOnnx, samples: np.ndarray, hop: int, starts: np.ndarray, *,
                               window_frames: int, lead_frames: int) -> np.ndarray:
    """Silero's speech probability per frame of ``hop`` samples for the windows that start at ``starts``.

    ``samples``: 1-D, one channel starting ``lead_frames`` frames before frame 0 (the first window's
    lead-in: the previous block's tail), zero-padded where it runs short. Each window of
    ``window_frames`` frames is scored after ``lead_frames`` of lead-in audio from a fresh state (the
    lead-in's scores are discarded); a frame gets the mean probability of the samples it covers.
    Returns one value per frame from frame 0 on, NaN outside the windows::

        samples   [lead|frame 0 ........................]
        starts           ^0              ^256            (window_frames 128)
        result    p p p ... p  nan ... nan  p p ... p  nan
    """
    n_frames = max(0, len(samples) // hop - lead_frames)
    starts = starts[starts < n_frames]
    windows = cut_windows(samples, hop, starts, window_frames=window_frames, lead_frames=lead_frames, chunk=model.chunk)
    return spread_windows(model.window_probabilities(windows), starts, n_frames, chunk=model.chunk, hop=hop,
                          window_frames=window_frames, lead_frames=lead_frames)


def cut_windows(samples: np.ndarray, hop: int, starts: np.ndarray, *, window_frames: int, lead_frames: int,
                chunk: int) -> np.ndarray:
    """The windows of :func:`frame_speech_probabilities`, lead-in included: ``(len(starts), span)`` with
    ``span`` the lead-in and window in samples rounded up to whole chunks (zero-padded past the end)."""
    span = (lead_frames + window_frames) * hop
    span += (-span) % chunk
    windows = np.zeros((len(starts), span), np.float32)
    for i, start in enumerate(starts):  # window i's lead-in starts at sample start * hop
        piece = samples[start * hop : start * hop + span]
        windows[i, : len(piece)] = piece
    return windows


def spread_windows(chunk_probs: np.ndarray, starts: np.ndarray, n_frames: int, *, chunk: int, hop: int,
                   window_frames: int, lead_frames: int) -> np.ndarray:
    """Chunk probabilities of :func:`cut_windows`' windows -> one value per frame of ``n_frames``
    (each frame the mean over its samples; the lead-in dropped; NaN outside the windows)."""
    result = np.full(n_frames, np.nan, np.float32)
    if not len(starts):
        return result
    per_sample = np.repeat(chunk_probs, chunk, axis=1)[:, lead_frames * hop : (lead_frames + window_frames) * hop]
    per_frame = per_sample.reshape(len(starts), window_frames, hop).mean(axis=2)
    for i, start in enumerate(starts):
        stop = min(n_frames, start + window_frames)
        result[start:stop] = per_frame[i, : stop - start]
    return result


def silero_speech(speech_prob: np.ndarray, *, threshold: float, onset: float) -> np.ndarray:
    """Frames silero calls speech, with silero's own hysteresis: runs of frames scored at least
    ``threshold`` that hold a frame scored at least ``onset`` (NaN: not scored, not speech)::

        prob    .1 .3 .6 .4 .3 .1 .3 .4 .3 .1     (threshold .2, onset .5)
        speech   .  #  #  #  #  .  .  .  .  .     (the second run never reaches .5: a noise onset)
    """
    prob = np.nan_to_num(speech_prob, nan=0.0)
    allowed = prob >= threshold
    core = prob >= max(onset, threshold)
    if not core.any():
        return core
    return extend_edges(core, allowed, max_frames=len(prob))


def rejected_share(active: np.ndarray, speech_prob: np.ndarray, *, threshold: float) -> tuple[float, int]:
    """Of the ``active`` frames that silero scored (``speech_prob`` not NaN), the share it scores below
    ``threshold``, and how many such frames there are (0: nothing to judge, share 0.0)."""
    scored = active & ~np.isnan(speech_prob)
    n = int(scored.sum())
    return (float((speech_prob[scored] < threshold).mean()) if n else 0.0), n


def party_rejected_shares(segments: list[Segment], speech_prob: np.ndarray, channel_of: dict[str, int], *,
                          hop_s: float, threshold: float) -> dict[str, tuple[float, float]]:
    """Per party: the share of its speech frames that silero scored below ``threshold``, and the seconds
    it scored (``speech_prob``: ``(n_frames, n_channels)``, NaN where not scored; ``channel_of``: the
    channel of each party). Parties without scored frames are left out."""
    shares = {}
    for party in sorted({s.speaker for s in segments}):
        prob = speech_prob[:, channel_of[party]]
        mask = segments_to_frames([s for s in segments if s.speaker == party], len(prob), hop_s)
        scored = mask & ~np.isnan(prob)
        if scored.any():
            shares[party] = (float((prob[scored] < threshold).mean()), float(scored.sum() * hop_s))
    return shares


def noise_party_warnings(shares: dict[str, tuple[float, float]], *, min_rejected: float, min_scored_s: float,
                         threshold: float) -> list[str]:
    """One warning per party whose speech silero mostly rejects (share >= ``min_rejected`` of at least
    ``min_scored_s`` scored seconds): a noise source may have been taken for that party."""
    return [
        f"the {party}'s speech is mostly not speech to silero-vad ({share:.0%} of {scored_s:.1f} s scored below "
        f"{threshold:g}): a noise source may have been taken for the {party}, whose metrics may then describe noise"
        for party, (share, scored_s) in shares.items() if scored_s >= min_scored_s and share >= min_rejected
    ]


def make_vad(config: VadConfig, sample_rate_hz: int):
    """A fresh streaming detector for one channel."""
    if config.backend == "silero":
        return SileroVad(sample_rate_hz, frame_ms=config.frame_ms, threshold=config.silero_threshold)
    return WebrtcVad(sample_rate_hz, frame_ms=config.frame_ms, mode=config.webrtc_mode, decision_ms=config.webrtc_decision_ms)


def speech_level_db(energy_db: np.ndarray, active: np.ndarray) -> float:
    """A channel's typical speech level: 90th percentile of the level of active frames (dBFS)."""
    values = energy_db[active] if active.any() else energy_db
    return float(np.percentile(values, 90)) if values.size else SILENT_DB


def noise_floor_db(energy_db: np.ndarray) -> float:
    """A channel's noise floor: 5th percentile of all frame levels (dBFS).

    Each party is silent for a good part of any call, so the quietest frames of a channel are its noise.
    """
    return float(np.percentile(energy_db, 5)) if energy_db.size else SILENT_DB


def energy_gate(energy_db: np.ndarray, active: np.ndarray, *, floor_db: float, noise_gate_db: float,
                level_db: float | None = None, noise_db: float | None = None) -> np.ndarray:
    """Keep active frames no more than ``floor_db`` below the channel's speech level and at least
    ``noise_gate_db`` above its noise floor (catches detectors firing on line noise or dither).
    ``level_db``, ``noise_db``: :func:`speech_level_db` and :func:`noise_floor_db` of these frames, if known."""
    level = speech_level_db(energy_db, active) if level_db is None else level_db
    noise = noise_floor_db(energy_db) if noise_db is None else noise_db
    return active & (energy_db > level - floor_db) & (energy_db > noise + noise_gate_db)


def level_above_noise_db(energy_db: np.ndarray, noise_db: float) -> np.ndarray:
    """Level of what each frame holds beyond the channel's noise (dBFS): frame power minus noise power.

    Frames at or below the noise come out at ``SILENT_DB``. With a loud line (10 dB SNR) this is what a
    leak or a quiet talker adds to the noise; with a quiet line it is the frame level itself.
    """
    power = 10.0 ** (energy_db.astype(np.float64) / 10.0) - 10.0 ** (noise_db / 10.0)
    return 10.0 * np.log10(np.maximum(power, 10 ** (SILENT_DB / 10)))


def estimate_leak_db(own_db: np.ndarray, other_db: np.ndarray, other_active: np.ndarray) -> float | None:
    """How loud the other party sounds in this channel, relative to its own channel (dB, negative).

    Measured over frames where the other party talks loudly: most of those frames
    hold no speech of this party, so the low 30th percentile of the level
    difference is the leak path. ``own_db`` should be the level above this
    channel's noise (:func:`level_above_noise_db`); raw levels measure the noise
    floor instead when the leak is below it, and a loud line then looks like a loud leak.
    Returns None when the other party hardly speaks.
    """
    strong = other_active & (other_db > speech_level_db(other_db, other_active) - 15.0)
    if strong.sum() < 50:
        return None
    return float(np.percentile(own_db[strong] - other_db[strong], 30))


def crosstalk_leaks_db(energy_db: np.ndarray, active: np.ndarray, *,
                       above_noise_db: list[np.ndarray] | None = None) -> list[float | None]:
    """Per channel of a two-channel call, the other party's leak into it (see :func:`estimate_leak_db`),
    measured on the level above the channel's noise; ``active``: each party's own speech frames.
    ``above_noise_db``: :func:`above_noise_levels` of ``energy_db``, if known."""
    above = above_noise_levels(energy_db) if above_noise_db is None else above_noise_db
    return [estimate_leak_db(above[own], energy_db[:, 1 - own], active[:, 1 - own]) for own in (0, 1)]


def above_noise_levels(energy_db: np.ndarray, noise_db: list[float] | None = None) -> list[np.ndarray]:
    """Per channel, :func:`level_above_noise_db` over its own noise floor (``noise_db``: the floors, if known)."""
    noise = [noise_floor_db(energy_db[:, c]) for c in range(energy_db.shape[1])] if noise_db is None else noise_db
    return [level_above_noise_db(energy_db[:, c], noise[c]) for c in range(energy_db.shape[1])]


def remove_crosstalk(
    energy_db: np.ndarray, active: np.ndarray, *, margin_db: float, echo_frames: int = 3,
    leaks_db: list[float | None] | None = None, above_noise_db: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Drop frames of one channel that are only the other party's leak.

    ``energy_db``, ``active``: shape ``(n_frames, 2)``. A frame of channel a
    stays speech only where its level above a's noise floor exceeds the leak
    predicted from channel b (b's level, max over +-``echo_frames`` to allow for
    echo delay, plus the leak gain) by ``margin_db``::

        agent channel   ####....(leak)....####
        customer        ....################....
        agent kept      ####..............####

    ``leaks_db``: the leak gains of :func:`crosstalk_leaks_db`, measured from
    ``active`` when not given (pass them to reuse one measurement for several masks);
    ``above_noise_db``: :func:`above_noise_levels` of ``energy_db``, likewise.
    """
    if energy_db.shape[1] != 2:
        return active
    above = above_noise_levels(energy_db) if above_noise_db is None else above_noise_db
    if leaks_db is None:
        leaks_db = crosstalk_leaks_db(energy_db, active, above_noise_db=above)
    cleaned = active.copy()
    for own, other in ((0, 1), (1, 0)):
        if leaks_db[own] is None:
            continue
        own_db = above[own]
        other_peak = running_max(energy_db[:, other], half_width=echo_frames)
        explained = own_db < other_peak + leaks_db[own] + margin_db
        cleaned[:, own] &= ~(explained & active[:, other])
    return cleaned


def extend_edges(core: np.ndarray, allowed: np.ndarray, *, max_frames: int, bridge_frames: int = 0) -> np.ndarray:
    """Hysteresis: grow each run of ``core`` frames outward through contiguous ``allowed`` frames
    (holes of up to ``bridge_frames`` do not stop it), at most ``max_frames`` on each side::

        core     ....####..........
        allowed  ..########.##.....   (bridge_frames >= 1)
        result   ..###########.....   (bounded by max_frames)
    """
    if max_frames <= 0 or not core.any():
        return core
    if bridge_frames > 0:
        allowed = binary_closing(allowed, bridge_frames + 1)
    either = core | allowed
    starts = either & ~np.concatenate([[False], either[:-1]])
    run = np.cumsum(starts)  # run number of every frame (meaningful where `either`)
    touched = np.zeros(run[-1] + 1, dtype=bool)
    touched[run[core]] = True
    connected = either & touched[run]
    reach = binary_dilation(core, 2 * max_frames + 1)
    return core | (connected & reach & allowed)


# --- 1-D morphology in numpy (scipy.ndimage's results, without its ~0.2 s / 30 MB import) -------------


def running_max(values: np.ndarray, *, half_width: int) -> np.ndarray:
    """Maximum over ``[i - half_width, i + half_width]`` of a 1-D array, the ends repeated outward
    (``scipy.ndimage.maximum_filter1d(values, 2 * half_width + 1, mode="nearest")``)."""
    values = np.asarray(values)
    if half_width <= 0 or len(values) == 0:
        return values.copy()
    padded = np.concatenate([np.repeat(values[:1], half_width), values, np.repeat(values[-1:], half_width)])
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * half_width + 1).max(axis=1)


def _window_counts(mask: np.ndarray, before: int, after: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame i: True frames in ``[i - before, i + after]`` (clipped to the array) and whether the window lies inside it."""
    n = len(mask)
    cumulative = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
    index = np.arange(n)
    lo, hi = index - before, index + after + 1
    counts = cumulative[np.clip(hi, 0, n)] - cumulative[np.clip(lo, 0, n)]
    return counts, (lo >= 0) & (hi <= n)


def binary_dilation(mask: np.ndarray, size: int) -> np.ndarray:
    """``scipy.ndimage.binary_dilation(mask, structure=np.ones(size, bool))`` of a 1-D mask (outside = False)."""
    mask = np.asarray(mask, dtype=bool)
    centre = size // 2
    counts, _ = _window_counts(mask, size - 1 - centre, centre)
    return counts > 0


def binary_erosion(mask: np.ndarray, size: int) -> np.ndarray:
    """``scipy.ndimage.binary_erosion(mask, structure=np.ones(size, bool))`` of a 1-D mask (outside = False)."""
    mask = np.asarray(mask, dtype=bool)
    centre = size // 2
    counts, inside = _window_counts(mask, centre, size - 1 - centre)
    return inside & (counts == size)


def binary_closing(mask: np.ndarray, size: int) -> np.ndarray:
    """``scipy.ndimage.binary_closing(mask, structure=np.ones(size, bool))``: dilation, then erosion
    (with scipy's borders: a run touching an end of the array may lose frames there)."""
    return binary_erosion(binary_dilation(mask, size), size)


def channel_segments(
    vad_frames: np.ndarray, energy_db: np.ndarray, speakers: list[str], config: VadConfig
) -> list[Segment]:
    """Whole-call frame decisions -> smoothed speech segments of every channel, sorted by start.

    ``vad_frames``, ``energy_db``: shape ``(n_frames, n_channels)``; ``speakers`` names each channel.
    """
    hop_s = config.hop_s
    channels = range(len(speakers))
    noise = [noise_floor_db(energy_db[:, c]) for c in channels]  # each channel's floor and level, measured once
    level = [speech_level_db(energy_db[:, c], vad_frames[:, c]) for c in channels]
    active = np.column_stack(
        [
            energy_gate(energy_db[:, c], vad_frames[:, c], floor_db=config.energy_floor_db, noise_gate_db=config.noise_gate_db,
                        level_db=level[c], noise_db=noise[c])
            for c in channels
        ]
    ) if len(speakers) else vad_frames
    # frames clearly above the noise floor may extend detected speech at its edges (soft onsets, decays)
    audible = np.column_stack([
        energy_db[:, c] > max(noise[c] + config.edge_gate_db, level[c] - config.energy_floor_db) for c in channels
    ])
    if config.crosstalk and len(speakers) == 2:
        above = above_noise_levels(energy_db, noise)
        leaks_db = crosstalk_leaks_db(energy_db, active, above_noise_db=above)  # measured once, on the parties' own speech
        active = remove_crosstalk(energy_db, active, margin_db=config.crosstalk_margin_db, leaks_db=leaks_db,
                                  above_noise_db=above)
        audible = remove_crosstalk(energy_db, audible, margin_db=config.crosstalk_margin_db, leaks_db=leaks_db,
                                   above_noise_db=above)
    max_ext = int(round(config.edge_extension_s / hop_s))
    segments: list[Segment] = []
    for c, speaker in enumerate(speakers):
        grown = extend_edges(
            active[:, c], audible[:, c], max_frames=max_ext, bridge_frames=int(round(config.min_silence_s / hop_s)) - 1
        )
        smoothed = smooth_frames(
            grown, hop_s, min_speech_s=config.min_speech_s, min_silence_s=config.min_silence_s
        )
        segments.extend(frames_to_segments(smoothed, hop_s, speaker))
    return sorted(segments)


# ----------------------------------------------------------------------------- leading non-speech (issue 14)


def voiced_frame_share(samples: np.ndarray, rate_hz: int, **options) -> float:
    """Share (0..1) of the frames of ``samples`` that :func:`voiced_frames` calls voiced (0.0 if too short)."""
    voiced = voiced_frames(samples, rate_hz, **options)
    return float(voiced.mean()) if len(voiced) else 0.0


def voiced_frames(samples: np.ndarray, rate_hz: int, *, frame_s: float = 0.04, hop_s: float = FRAME_HOP_S,
                  f0_range_hz: tuple[float, float] = (75.0, 400.0), min_periodicity: float = 0.5,
                  min_band_share: float = 0.1) -> np.ndarray:
    """Whether each ``frame_s`` frame of ``samples`` (1-D float, ``rate_hz``; one frame every ``hop_s``,
    the first at sample 0) is voiced.

    A frame is voiced when its 300-3400 Hz band (where telephone speech lives) repeats with a period in
    ``f0_range_hz`` (normalised autocorrelation peak >= ``min_periodicity``) and carries at least
    ``min_band_share`` of the frame's energy: a thump (no period) and low-frequency hum or rumble
    (little energy in the band) are not voiced; vowels are.
    """
    frame, hop = int(frame_s * rate_hz), int(hop_s * rate_hz)
    samples = np.asarray(samples, dtype=np.float64)
    if len(samples) < frame:
        return np.zeros(0, dtype=bool)
    high_hz = min(3400.0, 0.45 * rate_hz)
    # the band by FFT (the stretches judged here are short, under leading_noise_max_s): zero-phase like a
    # filtfilt, and no scipy.signal import on the pacing path (~0.6 s CPU and ~80 MB per process)
    n_fft = 2 * len(samples)  # zero-padded: no wrap-around of the stretch's start onto its end
    spectrum = np.fft.rfft(samples, n=n_fft)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate_hz)
    taper_hz = 150.0  # raised-cosine band edges: a brick wall would ring and make noise look periodic
    gain = np.clip(np.minimum(freqs - 300.0, high_hz - freqs) / taper_hz, 0.0, 1.0)
    gain = 0.5 - 0.5 * np.cos(np.pi * gain)
    band = np.fft.irfft(spectrum * gain, n=n_fft)[: len(samples)]
    lo, hi = int(rate_hz / f0_range_hz[1]), int(rate_hz / f0_range_hz[0])
    n_frames = (len(samples) - frame) // hop + 1
    # frames as rows, up to VOICING_ROWS at a time (a Python loop over frames cost ~30 us each)
    band_rows = np.lib.stride_tricks.sliding_window_view(band, frame)[::hop][:n_frames]
    raw_rows = np.lib.stride_tricks.sliding_window_view(samples, frame)[::hop][:n_frames]
    voiced = np.zeros(n_frames, dtype=bool)
    for first in range(0, n_frames, VOICING_ROWS):
        part = slice(first, first + VOICING_ROWS)
        voiced[part] = _periodic_rows(band_rows[part], raw_rows[part], lags=(lo, hi), min_periodicity=min_periodicity,
                                      min_band_share=min_band_share)
    return voiced


VOICING_ROWS = 1024  # frames judged at once by voiced_frames (bounds its memory at ~10 MB for 40 ms frames)


def _periodic_rows(band: np.ndarray, raw: np.ndarray, *, lags: tuple[int, int], min_periodicity: float,
                   min_band_share: float) -> np.ndarray:
    """:func:`voiced_frames`' decision for each row (a frame) of ``band`` (its telephone band) and ``raw``
    (its samples): normalised autocorrelation peak at lags ``lags[0]..lags[1]`` samples >= ``min_periodicity``
    and band energy >= ``min_band_share`` of the frame's."""
    frame = band.shape[1]
    lo, hi = lags
    x = band - band.mean(axis=1, keepdims=True)
    energy = np.einsum("ij,ij->i", x, x)
    judged = (energy > 1e-12) & (energy >= min_band_share * np.einsum("ij,ij->i", raw, raw))
    voiced = np.zeros(len(x), dtype=bool)
    if not judged.any():
        return voiced
    x = x[judged]
    n_fft = 1 << int(np.ceil(np.log2(frame + hi + 1)))  # zero-padded: no wrap-around of the lags
    spectrum = np.fft.rfft(x, n=n_fft, axis=1)
    ac = np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, n=n_fft, axis=1)[:, lo : hi + 1]
    cum = np.concatenate([np.zeros((len(x), 1)), np.cumsum(x * x, axis=1)], axis=1)
    k = np.arange(lo, hi + 1)
    head, tail = cum[:, frame - k], cum[:, frame : frame + 1] - cum[:, k]  # energy of x[:-k] and of x[k:]
    voiced[judged] = (ac / np.sqrt(np.maximum(head * tail, 1e-24))).max(axis=1) >= min_periodicity
    return voiced


def voiced_runs(mask: np.ndarray, samples: np.ndarray, rate_hz: int, *, hop_s: float, min_voiced_share: float) -> np.ndarray:
    """The runs of ``mask`` (frames of ``hop_s`` over ``samples``) in which at least ``min_voiced_share``
    of the frames are voiced (:func:`voiced_frames`): a vowel's periodicity in the telephone band, which
    hum, rumble, clicks and hiss lack. The rest of the mask is dropped."""
    hop = int(round(hop_s * rate_hz))
    out = np.zeros(len(mask), dtype=bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        flags = voiced_frames(samples[start * hop : stop * hop + int(0.04 * rate_hz)], rate_hz, hop_s=hop_s)
        if len(flags) and flags[: stop - start].mean() >= min_voiced_share:
            out[start:stop] = True
    return out


def drop_leading_noise(segments: list[Segment], voiced_share_of, *, max_s: float, min_voiced_share: float,
                       max_checked: int = 10) -> list[Segment]:
    """Each speaker's segments with the non-speech before its first voice removed.

    Walking each speaker's segments in time order, a segment shorter than ``max_s`` whose
    ``voiced_share_of(segment)`` is below ``min_voiced_share`` is dropped (a thump, a click, a burst
    of line noise), until the first segment that is longer or voiced (at most ``max_checked``
    segments are checked per speaker). So the agent's first turn, and in a mono call the choice of
    the agent as the first voice, start at a voice, not at the first sound.
    """
    dropped: set[Segment] = set()
    for speaker in {s.speaker for s in segments}:
        own = sorted(s for s in segments if s.speaker == speaker)
        for seg in own[:max_checked]:
            if seg.duration_s >= max_s or voiced_share_of(seg) >= min_voiced_share:
                break
            dropped.add(seg)
    return [s for s in segments if s not in dropped]
