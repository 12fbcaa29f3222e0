"""Simulated two-party telephone calls with exact ground truth (the project's test oracle).

Real studio clips of two corpus speakers (EmoDB, RAVDESS, nEMO) are placed on a
10 ms frame grid to form a call with designed turn-taking: turns of 1-3 clips,
within-turn pauses, floor transfer offsets (gaps and overlaps), backchannels,
interruptions (successful and attempts), dead air and holds. The truth is
computed from the CLEAN placed clips with an energy detector and smoothed
exactly as SPEC's time model says, and every designed event is expressed in
terms of those truth segments::

    agent     [==== ===]        [=======  ====]          left channel
    customer           [=====]     ~~         [=====]    right channel
                      ^gap     ^fto<0  ^bc   ^gap

Then the channel is rendered: party levels, crosstalk (each party leaking into
the other channel with a small echo delay and filtering), telephone band-limit
(300-3400 Hz), line noise at a given SNR, G.711 mu-law at 8 kHz.

All times in the truth are seconds from the start of the file, multiples of
10 ms. See docs/simulator.md for the truth format and the distributions.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

from analyzer.errors import AnalyzerError
from analyzer.emotion.model import LABELS
from analyzer.intervals import AGENT, CUSTOMER, FRAME_HOP_S, hop_samples, smooth_frames

TRUTH_SCHEMA = "call-analyzer/simulated-truth/1"
CORPUS_RATE_HZ = 16000
FRAME_S = FRAME_HOP_S  # the analyzer's frame grid
FRAME_SAMPLES = hop_samples(CORPUS_RATE_HZ, FRAME_S)  # 160 at CORPUS_RATE_HZ
CORPORA = ("emodb", "ravdess", "nemo")
TELEPHONE_BAND_HZ = (300.0, 3400.0)
TELEPHONE_RATE_HZ = 8000
HIGHPASS_HZ = 100.0  # clips are high-passed before use (and before truth detection)
CLIP_ACTIVE_DBFS = -20.0  # every corpus clip is scaled so its active speech level is at this level
_EDGE_MARGIN_FRAMES = 5  # silence kept around a clip's speech when it is trimmed
_FADE_S = 0.01
_GUARD_FRAMES = 60  # min. distance between a listener's backchannel/attempt and its other speech
_PEAK_MAX = 0.95
_YIELD_FRAMES = 120  # min. silence of a party around the other's short answer to its turn (a yield, not a pause)

_EMODB_LABELS = {"N": "neutral", "F": "happy", "W": "angry", "T": "sad"}
_EMODB_MALE = {"03", "10", "11", "12", "15"}
_RAVDESS_LABELS = {"01": "neutral", "03": "happy", "05": "angry", "04": "sad"}
_NEMO_LABELS = {"neutral": "neutral", "happiness": "happy", "anger": "angry", "sadness": "sad"}


# Issue 14's hard cases, as overrides of SimulationParams: short answers (a quarter of the turns after the
# first), quick exchanges of short turns, and a customer who sounds like the agent (same corpus and gender).
HARD_CASES = {"short_turn_prob": 0.25, "quick_exchange_prob": 0.5, "similar_voices": True}


class SimulationError(AnalyzerError):
    """The simulator cannot build a call from these parameters or corpora."""


@dataclass(frozen=True)
class SimulationParams:
    """Everything that shapes one simulated call. Times in seconds, levels in dB.

    Turn-taking probabilities are per speaker change (``*_interrupt_prob``:
    the party taking the floor interrupts) or per turn of the other party
    (``*_attempt_prob``, ``*_backchannel_prob``: the listener acts inside the
    current turn). Latency means are the means of the gamma part of the FTO
    distribution for the party taking the floor. Emotions are
    ``(start, end)`` labels; each turn draws the end label with probability
    equal to the call's progress (0 at the first turn, 1 at the last).
    ``crosstalk_db=None`` draws each direction from ``crosstalk_range_db``.
    ``snr_db=None`` adds no line noise. ``*_speaker`` picks a corpus speaker
    as ``"emodb:03"``, ``"ravdess:17"``, ``"nemo:EB0"``.
    ``short_turn_prob``: a turn after the first is a short answer (one 0.3-1.2 s
    piece cut from the start of a clip) with this probability;
    ``quick_exchange_prob``: a turn right after a short turn is short too with this
    probability (quick exchanges of short turns). ``similar_voices``: the customer
    prefers the agent's corpus (x3) and gender (x4) instead of another one.
    The defaults (0, 0, False) are the original recipe.
    """

    seed: int = 0
    n_turns: int = 30
    target_duration_s: float | None = None
    sample_rate_hz: int = 8000
    telephone: bool = True
    snr_db: float | None = 20.0
    crosstalk_db: float | None = None
    crosstalk_range_db: tuple[float, float] = (-40.0, -25.0)
    echo_delay_max_ms: float = 30.0
    agent_level_dbfs: float = -26.0
    customer_level_dbfs: float = -20.0
    level_jitter_db: float = 2.0
    first_speaker: str = AGENT
    agent_latency_mean_s: float = 0.4
    customer_latency_mean_s: float = 0.5
    short_overlap_prob: float = 0.12
    long_gap_prob: float = 0.04
    agent_interrupt_prob: float = 0.05
    customer_interrupt_prob: float = 0.08
    agent_attempt_prob: float = 0.04
    customer_attempt_prob: float = 0.06
    agent_backchannel_prob: float = 0.35
    customer_backchannel_prob: float = 0.25
    dead_air_prob: float = 0.03
    hold_prob: float = 0.01
    short_turn_prob: float = 0.0
    quick_exchange_prob: float = 0.0
    similar_voices: bool = False
    agent_emotion: tuple[str, str] = ("neutral", "neutral")
    customer_emotion: tuple[str, str] = ("angry", "neutral")
    corpora: tuple[str, ...] = CORPORA
    agent_speaker: str | None = None
    customer_speaker: str | None = None
    truth_threshold_db: float | None = 35.0
    min_speech_s: float = 0.15
    min_silence_s: float = 0.2

    @property
    def truth_reference(self) -> str:
        """What the truth threshold is relative to: each clean clip's ``peak`` 10 ms frame (default), or,
        with ``truth_threshold_db=None``, its ``active`` speech level ("audible speech" truth)."""
        return "peak" if self.truth_threshold_db is not None else "active"

    @property
    def resolved_truth_threshold_db(self) -> float:
        """dB below the reference (see :attr:`truth_reference`) down to which clean frames are true speech.

        ``truth_threshold_db`` if given (dB below the clip's peak frame, 35 by default as the project brief
        asks). ``None`` selects "audible speech only": at least 3 dB above the line noise (which sits
        ``snr_db`` below the party's active level) and never more than 25 dB below the clip's active level;
        this truth then depends on ``snr_db``.
        """
        if self.truth_threshold_db is not None:
            return self.truth_threshold_db
        return 25.0 if self.snr_db is None else min(25.0, self.snr_db - 3.0)

    def __post_init__(self):
        def fail(msg: str):
            raise SimulationError(msg)

        if self.n_turns < 2 and self.target_duration_s is None:
            fail(f"n_turns must be >= 2, got {self.n_turns}")
        if self.target_duration_s is not None and self.target_duration_s < 5.0:
            fail(f"target_duration_s must be >= 5 s, got {self.target_duration_s}")
        if self.sample_rate_hz < TELEPHONE_RATE_HZ or self.sample_rate_hz % 100:
            fail(f"sample_rate_hz must be >= 8000 and a multiple of 100, got {self.sample_rate_hz}")
        if self.first_speaker not in (AGENT, CUSTOMER):
            fail(f"first_speaker must be 'agent' or 'customer', got {self.first_speaker!r}")
        lo, hi = self.crosstalk_range_db
        if not lo <= hi < 0:
            fail(f"crosstalk_range_db must be (low, high) with low <= high < 0 dB, got {self.crosstalk_range_db}")
        if self.crosstalk_db is not None and self.crosstalk_db >= 0:
            fail(f"crosstalk_db must be negative (leak below the talker), got {self.crosstalk_db}")
        for name in ("agent_emotion", "customer_emotion"):
            bad = [e for e in getattr(self, name) if e not in LABELS]
            if bad or len(getattr(self, name)) != 2:
                fail(f"{name} must be (start, end) from {', '.join(LABELS)}, got {getattr(self, name)}")
        unknown = [c for c in self.corpora if c not in CORPORA]
        if unknown or not self.corpora:
            fail(f"corpora must be a non-empty subset of {', '.join(CORPORA)}, got {self.corpora}")
        for name, value in dataclasses.asdict(self).items():
            if name.endswith("_prob") and not 0.0 <= value <= 1.0:
                fail(f"{name} must be within 0..1, got {value}")
        if self.short_overlap_prob + self.long_gap_prob + self.dead_air_prob + self.hold_prob > 1.0:
            fail("short_overlap_prob + long_gap_prob + dead_air_prob + hold_prob must not exceed 1")
        if min(self.agent_latency_mean_s, self.customer_latency_mean_s) <= 0:
            fail("latency means must be > 0 s")

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclass(frozen=True, eq=False)
class SimulatedCall:
    """A rendered call and its truth.

    stereo: (n, 2) float32, left = agent, right = customer, at ``sample_rate_hz``.
    mono: (n,) float32, both parties summed (no crosstalk), same channel model.
    clean_16k: (m, 2) float32 clean party tracks at 16 kHz (levels applied, no
        channel), from which the truth segments were detected.
    truth: the ground-truth dict written to ``<name>.truth.json``.
    """

    stereo: np.ndarray
    mono: np.ndarray
    sample_rate_hz: int
    truth: dict
    clean_16k: np.ndarray


# ----------------------------------------------------------------------------- corpus index


@dataclass(frozen=True, eq=False)
class CorpusSpeaker:
    """One corpus speaker: its clips (paths relative to the corpora root) per project label."""

    corpus: str
    speaker_id: str
    gender: str
    clips: dict[str, tuple[str, ...]]

    @property
    def key(self) -> str:
        return f"{self.corpus}:{self.speaker_id}"


def corpus_index(corpora_root: Path) -> tuple[CorpusSpeaker, ...]:
    """All usable speakers of EmoDB, RAVDESS and nEMO under ``corpora_root`` (cached per process)."""
    return _corpus_index(str(Path(corpora_root).resolve()))


@functools.lru_cache(maxsize=8)
def _corpus_index(root_str: str) -> tuple[CorpusSpeaker, ...]:
    root = Path(root_str)
    if not root.is_dir():
        raise SimulationError(
            "speech corpora folder not found; pass corpora_root=<path to shared/corpora>", path=root_str
        )
    clips: dict[tuple[str, str], dict[str, list[str]]] = {}
    gender: dict[tuple[str, str], str] = {}

    def add(corpus: str, spk: str, label: str | None, rel: str, sex: str):
        if label is None:
            return
        clips.setdefault((corpus, spk), {}).setdefault(label, []).append(rel)
        gender[(corpus, spk)] = sex

    for path in sorted((root / "emodb").glob("*.flac")):
        name = path.stem
        spk = name[:2]
        add("emodb", spk, _EMODB_LABELS.get(name[5:6]), f"emodb/{path.name}", "male" if spk in _EMODB_MALE else "female")
    for path in sorted((root / "ravdess").glob("*/*.flac")):
        fields = path.stem.split("-")
        if len(fields) != 7:
            continue
        spk = fields[6]
        add("ravdess", spk, _RAVDESS_LABELS.get(fields[2]), f"ravdess/{path.parent.name}/{path.name}",
            "male" if int(spk) % 2 else "female")
    nemo_gender: dict[str, str] = {}
    tsv = root / "nemo" / "data.tsv"
    if tsv.exists():
        with tsv.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                nemo_gender[row["speaker_id"]] = row["gender"]
    for path in sorted((root / "nemo").glob("*.flac")):
        parts = path.stem.split("_")
        if len(parts) < 3:
            continue
        add("nemo", parts[0], _NEMO_LABELS.get(parts[1]), f"nemo/{path.name}", nemo_gender.get(parts[0], "unknown"))
    speakers = tuple(
        CorpusSpeaker(corpus, spk, gender[(corpus, spk)], {k: tuple(v) for k, v in sorted(labels.items())})
        for (corpus, spk), labels in sorted(clips.items())
    )
    if not speakers:
        raise SimulationError("no EmoDB/RAVDESS/nEMO clips found; check the corpora folder", path=root_str)
    return speakers


# ----------------------------------------------------------------------------- clips and the truth detector


@dataclass(frozen=True, eq=False)
class _Clip:
    """Clean audio at 16 kHz, a whole number of 10 ms frames, with its smoothed speech mask (one bool per frame)."""

    rel_path: str
    audio: np.ndarray
    mask: np.ndarray
    ref_db: float
    start_in_file_s: float

    @functools.cached_property
    def runs(self) -> list[tuple[int, int]]:
        return _runs_true(self.mask)


def frame_levels_db(x: np.ndarray, *, frame_samples: int) -> np.ndarray:
    """Mean power per non-overlapping frame in dB re full scale (frame i = samples [i*n, (i+1)*n))."""
    n = len(x) // frame_samples
    frames = np.asarray(x[: n * frame_samples], dtype=np.float64).reshape(n, frame_samples)
    return 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def clip_active_level_db(levels_db: np.ndarray, *, range_db: float = 35.0) -> float:
    """Active speech level of a clean clip (dB): mean power of its 10 ms frames within ``range_db`` of the
    loudest frame (a simple stand-in for ITU-T P.56)."""
    peak = float(levels_db.max())
    loud = levels_db[levels_db > peak - range_db]
    return float(10 * np.log10(np.mean(10 ** (loud / 10))))


def truth_band_hz(params: SimulationParams) -> tuple[float, float | None]:
    """The band the truth detector listens to: what the output channel carries (Hz, None = up to Nyquist).

    Telephone: 300-3400 Hz. Otherwise from the 100 Hz high-pass up to 0.45 x the output rate, so energy the
    listener of the file can never hear (clicks at 6 kHz, breath above the phone band) is not "speech".
    """
    if params.telephone:
        return TELEPHONE_BAND_HZ
    top = 0.45 * params.sample_rate_hz
    return (HIGHPASS_HZ, top if top < 0.45 * CORPUS_RATE_HZ else None)


@functools.lru_cache(maxsize=8)
def _band_sos_16k(low_hz: float, high_hz: float | None) -> np.ndarray:
    if high_hz is None:
        return signal.butter(4, low_hz, btype="highpass", fs=CORPUS_RATE_HZ, output="sos")
    return signal.butter(4, (low_hz, high_hz), btype="bandpass", fs=CORPUS_RATE_HZ, output="sos")


def _forward_backward(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Zero-phase filtering from rest (no edge padding: clips start and end faded to silence)."""
    return signal.sosfilt(sos, signal.sosfilt(sos, x)[::-1])[::-1]


def band_levels_db(x: np.ndarray, band_hz: tuple[float, float | None]) -> np.ndarray:
    """10 ms frame levels (dB re full scale) of 16 kHz audio after a zero-phase band-pass to ``band_hz``."""
    return frame_levels_db(_forward_backward(_band_sos_16k(*band_hz), x), frame_samples=FRAME_SAMPLES)


def detect_speech_frames(
    x: np.ndarray, *, ref_db: float, threshold_db: float = 35.0, band_hz: tuple[float, float | None] = TELEPHONE_BAND_HZ,
    min_speech_s: float = 0.15, min_silence_s: float = 0.2,
) -> np.ndarray:
    """The truth detector: 10 ms frames of ``x`` (16 kHz) whose level within ``band_hz`` exceeds
    ``ref_db - threshold_db``, smoothed per SPEC (silence < ``min_silence_s`` bridged, then speech
    < ``min_speech_s`` dropped).

    ``ref_db`` is the in-band peak frame level (or, for "audible" truth, the active speech level, see
    :func:`clip_active_level_db`) of the clean studio clip the audio comes from, ``threshold_db`` how far
    below it speech still counts.
    """
    raw = band_levels_db(x, band_hz) > ref_db - threshold_db
    return smooth_frames(raw, FRAME_S, min_speech_s=min_speech_s, min_silence_s=min_silence_s)


def _runs_true(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` frame indices of each run of True."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2])]


def _fade(x: np.ndarray) -> np.ndarray:
    """Raised-cosine fade-in and fade-out of ``_FADE_S`` at both ends (copy)."""
    n = min(int(_FADE_S * CORPUS_RATE_HZ), len(x) // 2)
    y = x.copy()
    ramp = np.hanning(2 * n)[:n].astype(np.float32)
    y[:n] *= ramp
    y[len(y) - n :] *= ramp[::-1]
    return y


@functools.lru_cache(maxsize=1)
def _highpass_sos() -> np.ndarray:
    return signal.butter(4, HIGHPASS_HZ, btype="highpass", fs=CORPUS_RATE_HZ, output="sos")


@functools.lru_cache(maxsize=512)
def _load_clip(root_str: str, rel_path: str, reference: str, threshold_db: float, min_speech_s: float,
               min_silence_s: float, band_hz: tuple[float, float | None]) -> _Clip | None:
    """Read a clip, high-pass it at 100 Hz, detect its speech, trim it to its speech plus a 50 ms margin
    (faded). None if silent."""
    path = Path(root_str) / rel_path
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise SimulationError(f"cannot read corpus clip ({exc}); check the corpora folder", path=str(path)) from None
    audio = audio.mean(axis=1)
    if rate != CORPUS_RATE_HZ:
        audio = soxr.resample(audio, rate, CORPUS_RATE_HZ).astype(np.float32)
    audio = audio[: len(audio) // FRAME_SAMPLES * FRAME_SAMPLES]
    if len(audio) < 20 * FRAME_SAMPLES:
        return None
    # studio rumble (some RAVDESS takes open with 40 Hz thumps at -20 dB re peak) is not speech: remove it
    audio = _forward_backward(_highpass_sos(), _fade(audio)).astype(np.float32)
    # Normalise every clip to one active speech level: corpus recording levels differ by up to 35 dB within
    # one speaker (RAVDESS normal vs strong intensity), which on a phone line would bury whole turns under
    # the line noise while the truth still calls them speech. The party level is set later in _render.
    levels = band_levels_db(audio, band_hz)
    gain_db = CLIP_ACTIVE_DBFS - clip_active_level_db(levels)
    audio = (audio * 10 ** (gain_db / 20)).astype(np.float32)
    ref_db = float(levels.max()) + gain_db if reference == "peak" else CLIP_ACTIVE_DBFS
    kw = dict(ref_db=ref_db, threshold_db=threshold_db, band_hz=band_hz, min_speech_s=min_speech_s, min_silence_s=min_silence_s)
    runs = _runs_true(detect_speech_frames(_fade(audio), **kw))
    if not runs:
        return None
    first = max(runs[0][0] - _EDGE_MARGIN_FRAMES, 0)
    last = min(runs[-1][1] + _EDGE_MARGIN_FRAMES, len(audio) // FRAME_SAMPLES)
    trimmed = _fade(audio[first * FRAME_SAMPLES : last * FRAME_SAMPLES])
    mask = detect_speech_frames(trimmed, **kw)
    if not mask.any():
        return None
    return _Clip(rel_path, trimmed, mask, ref_db, first * FRAME_S)


def _cut_start_piece(clip: _Clip, rng: np.random.Generator, *, min_frames: int, max_frames: int,
                     params: SimulationParams) -> _Clip | None:
    """The opening of ``clip``: its audio up to ``min_frames..max_frames`` frames into its first speech run
    (faded), whose truth is one run of that length (a short answer: "yes", "Express, please"); None if the
    first run is too short."""
    a, b = clip.runs[0]
    if b - a < min_frames:
        return None
    length = int(rng.integers(min_frames, min(max_frames, b - a) + 1))
    audio = _fade(clip.audio[: (a + length) * FRAME_SAMPLES])
    return _one_run_piece(clip, audio, clip.start_in_file_s, min_frames=min_frames, max_frames=max_frames, params=params)


def _cut_piece(clip: _Clip, rng: np.random.Generator, *, min_frames: int, max_frames: int, params: SimulationParams) -> _Clip | None:
    """A short stretch cut from inside one speech run of ``clip`` (faded), whose truth is one run of
    ``min_frames..max_frames`` frames; None if this clip has no run long enough."""
    length = int(rng.integers(min_frames + 2, max_frames - 1))
    long_runs = [(a, b) for a, b in clip.runs if b - a >= length + 2]
    if not long_runs:
        return None
    a, b = long_runs[int(rng.integers(len(long_runs)))]
    start = int(rng.integers(a, b - length + 1))
    audio = _fade(clip.audio[start * FRAME_SAMPLES : (start + length) * FRAME_SAMPLES])
    return _one_run_piece(clip, audio, clip.start_in_file_s + start * FRAME_S, min_frames=min_frames,
                          max_frames=max_frames, params=params)


def _one_run_piece(clip: _Clip, audio: np.ndarray, start_in_file_s: float, *, min_frames: int, max_frames: int,
                   params: SimulationParams) -> _Clip | None:
    """``audio`` (a faded piece of ``clip``) as a clip if its truth is one speech run of
    ``min_frames..max_frames`` frames, else None."""
    mask = detect_speech_frames(
        audio, ref_db=clip.ref_db, threshold_db=params.resolved_truth_threshold_db, band_hz=truth_band_hz(params),
        min_speech_s=params.min_speech_s, min_silence_s=params.min_silence_s,
    )
    runs = _runs_true(mask)
    if len(runs) != 1 or not min_frames <= runs[0][1] - runs[0][0] <= max_frames:
        return None
    return _Clip(clip.rel_path, audio, mask, clip.ref_db, start_in_file_s)


# ----------------------------------------------------------------------------- design


@dataclass
class _Item:
    """A clip placed on the call's frame grid."""

    party: str
    clip: _Clip
    offset: int  # frame of the clip's first sample
    role: str  # turn / backchannel / attempt
    turn: int
    label: str

    @property
    def runs(self) -> list[tuple[int, int]]:
        return [(a + self.offset, b + self.offset) for a, b in self.clip.runs]


@dataclass
class _Turn:
    speaker: str
    emotion: str
    items: list[_Item] = field(default_factory=list)
    kind_in: str = "first"  # how the floor was taken: first / gap / overlap / interruption / dead_air / hold / long_gap

    @property
    def start(self) -> int:
        return self.items[0].runs[0][0]

    @property
    def end(self) -> int:
        return self.items[-1].runs[-1][1]

    @property
    def runs(self) -> list[tuple[int, int]]:
        return [r for item in self.items for r in item.runs]


class _Designer:
    """Builds the timeline (frames) of one call from a seeded generator."""

    def __init__(self, params: SimulationParams, root_str: str, speakers: dict[str, CorpusSpeaker], rng: np.random.Generator):
        self.p = params
        self.root = root_str
        self.speakers = speakers
        self.rng = rng
        self.used: set[str] = set()
        self.occupied: dict[str, list[tuple[int, int]]] = {AGENT: [], CUSTOMER: []}

    def load(self, rel: str) -> _Clip | None:
        p = self.p
        return _load_clip(self.root, rel, p.truth_reference, p.resolved_truth_threshold_db, p.min_speech_s,
                          p.min_silence_s, truth_band_hz(p))

    def pick_clip(self, party: str, label: str, *, min_long_frames: int = 0) -> _Clip:
        """A clip of the party's speaker with this label, preferring unused ones and (if asked) one with a
        speech run of at least ``min_long_frames``."""
        paths = self.speakers[party].clips[label]
        order = [paths[i] for i in self.rng.permutation(len(paths))]
        order.sort(key=lambda rel: rel in self.used)  # stable: unused first, random within
        best: _Clip | None = None
        for rel in order[:40]:
            clip = self.load(rel)
            if clip is None:
                continue
            longest = max(b - a for a, b in clip.runs)
            if longest >= min_long_frames:
                self.used.add(rel)
                return clip
            if best is None or longest > max(b - a for a, b in best.runs):
                best = clip
        if best is None:
            raise SimulationError(f"no usable {label} clip for {self.speakers[party].key}; choose another speaker")
        self.used.add(best.rel_path)
        return best

    def emotion(self, party: str, progress: float) -> str:
        start, end = self.p.agent_emotion if party == AGENT else self.p.customer_emotion
        return end if self.rng.random() < progress else start

    def plan_turn(self, party: str, index: int, progress: float, *, short: bool = False) -> _Turn:
        label = self.emotion(party, progress)
        if short:
            for _ in range(12):
                piece = _cut_start_piece(self.pick_clip(party, label), self.rng, min_frames=30, max_frames=120, params=self.p)
                if piece is not None:
                    return _Turn(party, label, [_Item(party, piece, 0, "turn", index, label)])
        n_clips = int(self.rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
        turn = _Turn(party, label)
        clips = [self.pick_clip(party, label, min_long_frames=120)]
        clips += [self.pick_clip(party, label) for _ in range(n_clips - 1)]
        for clip in clips:
            turn.items.append(_Item(party, clip, 0, "turn", index, label))
        return turn

    def place_turn(self, turn: _Turn, start: int):
        """Put the turn's first speech frame at ``start``; later clips follow after 0.25-0.9 s pauses."""
        cursor = None
        for item in turn.items:
            first, _ = item.clip.runs[0]
            if cursor is None:
                item.offset = start - first
            else:
                item.offset = cursor + int(round(self.rng.uniform(0.25, 0.9) / FRAME_S)) - first
            cursor = item.offset + item.clip.runs[-1][1]
        self.occupied[turn.speaker].extend(turn.runs)

    def transition(self, prev: _Turn, nxt: _Turn, *, earliest: int) -> tuple[str, int]:
        """How ``nxt`` takes the floor from ``prev``: (kind, start frame of nxt's first speech).

        ``earliest`` is the first frame at which ``nxt``'s speaker may speak again (its previous turn
        must stay a separate turn); a floor transfer that would start earlier becomes a later gap.
        """
        kind, start = self._transition(prev, nxt)
        if start < earliest:
            start = max(earliest, prev.end - 14)  # a short overlap at most: not an interruption
            kind = "gap" if start > prev.end else "overlap"
        return kind, start

    def _transition(self, prev: _Turn, nxt: _Turn) -> tuple[str, int]:
        p, rng = self.p, self.rng
        interrupt = p.agent_interrupt_prob if nxt.speaker == AGENT else p.customer_interrupt_prob
        if rng.random() < interrupt:
            last_a, last_b = prev.runs[-1]
            first_a, first_b = nxt.items[0].clip.runs[0]
            max_overlap = min(150, last_b - last_a - 10, first_b - first_a - 30)
            if max_overlap >= 30:
                return "interruption", prev.end - int(rng.integers(30, max_overlap + 1))
        u = rng.random()
        edges = np.cumsum([p.hold_prob, p.dead_air_prob, p.short_overlap_prob, p.long_gap_prob])
        if u < edges[0]:
            kind, fto_s = "hold", rng.uniform(21.0, 60.0)
        elif u < edges[1]:
            kind, fto_s = "dead_air", rng.uniform(5.5, 15.0)
        elif u < edges[2]:
            kind, fto_s = "overlap", rng.uniform(-0.14, -0.01)
        elif u < edges[3]:
            kind, fto_s = "long_gap", rng.uniform(1.5, 4.0)
        else:
            mean = p.agent_latency_mean_s if nxt.speaker == AGENT else p.customer_latency_mean_s
            kind, fto_s = "gap", min(rng.gamma(2.5, mean / 2.5), 3.0)
        fto = int(round(fto_s / FRAME_S))
        if kind == "gap":
            fto = max(fto, 1)
        return kind, prev.end + fto

    def free(self, party: str, a: int, b: int) -> bool:
        g = _GUARD_FRAMES
        return all(b + g <= s or e + g <= a for s, e in self.occupied[party])

    def add_listener_events(self, turns: list[_Turn], index: int) -> list[_Item]:
        """Attempts and backchannels of the listener inside turn ``index``."""
        p, rng = self.p, self.rng
        turn = turns[index]
        listener = CUSTOMER if turn.speaker == AGENT else AGENT
        label = next((t.emotion for t in reversed(turns[:index]) if t.speaker == listener), None)
        if label is None:
            label = (p.agent_emotion if listener == AGENT else p.customer_emotion)[0]
        runs = turn.runs
        long_start = next((a for a, b in runs if b - a >= 100), None)
        if long_start is None:  # no floor-holding segment: keep this turn free of listener events
            return []
        items: list[_Item] = []
        attempt_prob = p.agent_attempt_prob if listener == AGENT else p.customer_attempt_prob
        if rng.random() < attempt_prob:
            item = self._attempt(listener, label, runs, index)
            if item is not None:
                items.append(item)
        bc_prob = p.agent_backchannel_prob if listener == AGENT else p.customer_backchannel_prob
        n_bc = int(rng.random() < bc_prob) + int(turn.end - turn.start > 600 and rng.random() < bc_prob)
        for _ in range(n_bc):
            item = self._backchannel(listener, label, turn, runs, long_start, index)
            if item is not None:
                items.append(item)
        return items

    def _piece(self, party: str, label: str, min_frames: int, max_frames: int) -> _Clip | None:
        for _ in range(12):
            clip = self.pick_clip(party, label)
            piece = _cut_piece(clip, self.rng, min_frames=min_frames, max_frames=max_frames, params=self.p)
            if piece is not None:
                return piece
        return None

    def _attempt(self, listener: str, label: str, runs: list[tuple[int, int]], index: int) -> _Item | None:
        piece = self._piece(listener, label, 112, 148)
        if piece is None:
            return None
        (pa, pb), = piece.runs
        length = pb - pa
        hosts = [(a, b) for a, b in runs if b - a >= length + 60]
        for _ in range(6):
            if not hosts:
                return None
            a, b = hosts[int(self.rng.integers(len(hosts)))]
            start = int(self.rng.integers(a + 30, b - length - 30 + 1))
            if self.free(listener, start, start + length):
                self.occupied[listener].append((start, start + length))
                return _Item(listener, piece, start - pa, "attempt", index, label)
        return None

    def _backchannel(self, listener: str, label: str, turn: _Turn, runs, long_start: int, index: int) -> _Item | None:
        piece = self._piece(listener, label, 25, 85)
        if piece is None:
            return None
        (pa, pb), = piece.runs
        length = pb - pa
        lo, hi = max(turn.start + 50, long_start + 20), turn.end - 50 - length
        if hi <= lo:
            return None
        pauses = [(e, s) for (_, e), (s, _) in zip(runs, runs[1:]) if s - e >= length + 10 and lo <= e and s - length <= hi]
        for attempt in range(8):
            if pauses and attempt < 3 and self.rng.random() < 0.6:
                e, s = pauses[int(self.rng.integers(len(pauses)))]
                start = int(self.rng.integers(e + 3, s - length - 3 + 1)) if s - e - length > 6 else e + (s - e - length) // 2
            else:
                start = int(self.rng.integers(lo, hi + 1))
            if self.free(listener, start, start + length):
                self.occupied[listener].append((start, start + length))
                return _Item(listener, piece, start - pa, "backchannel", index, label)
        return None


def _choose_speakers(index: tuple[CorpusSpeaker, ...], params: SimulationParams, rng: np.random.Generator) -> dict[str, CorpusSpeaker]:
    """Agent and customer: different corpus speakers who have clips of every emotion they need.

    Each corpus is equally likely (speakers weighted by 1 / speakers in their corpus); the customer
    prefers another corpus (x3 weight) and another gender (x4 weight) than the agent.
    """
    by_key = {s.key: s for s in index}
    chosen: dict[str, CorpusSpeaker] = {}
    for party, wanted, emotions in (
        (AGENT, params.agent_speaker, params.agent_emotion),
        (CUSTOMER, params.customer_speaker, params.customer_emotion),
    ):
        need = set(emotions)
        if wanted is not None:
            if wanted not in by_key:
                raise SimulationError(f"{party}_speaker {wanted!r} not found; use e.g. 'emodb:03', 'ravdess:17', 'nemo:EB0'")
            spk = by_key[wanted]
            if not need <= set(spk.clips):
                raise SimulationError(f"{wanted} has no clips labelled {', '.join(sorted(need - set(spk.clips)))}")
            chosen[party] = spk
            continue
        pool = [s for s in index if s.corpus in params.corpora and need <= set(s.clips) and s is not chosen.get(AGENT)]
        if not pool:
            raise SimulationError(f"no {party} speaker in {', '.join(params.corpora)} has clips for {', '.join(sorted(need))}")
        corpus_sizes = {c: sum(s.corpus == c for s in pool) for c in params.corpora}
        weights = np.array([1.0 / corpus_sizes[s.corpus] for s in pool])  # each corpus equally likely
        if AGENT in chosen:
            agent = chosen[AGENT]
            same = params.similar_voices  # prefer the agent's corpus and gender instead of another one
            weights *= [(3.0 if (s.corpus == agent.corpus) == same else 1.0) * (4.0 if (s.gender == agent.gender) == same else 1.0)
                        for s in pool]
        chosen[party] = pool[int(rng.choice(len(pool), p=weights / weights.sum()))]
    if chosen[AGENT].key == chosen[CUSTOMER].key:
        raise SimulationError(f"agent and customer must be different speakers, both are {chosen[AGENT].key}")
    return chosen


def _is_short(turn: _Turn) -> bool:
    return turn.end - turn.start < 100


def _design(params: SimulationParams, root_str: str, speakers, rng) -> tuple[list[_Turn], list[_Item]]:
    """Plan and place all turns, then the listeners' attempts and backchannels."""
    d = _Designer(params, root_str, speakers, rng)
    other = {AGENT: CUSTOMER, CUSTOMER: AGENT}
    target = None if params.target_duration_s is None else int(round(params.target_duration_s / FRAME_S))
    turns: list[_Turn] = []
    speaker = params.first_speaker
    start = int(round(rng.uniform(0.3, 1.2) / FRAME_S))
    while True:
        k = len(turns)
        progress = (k / (params.n_turns - 1)) if target is None else min(start / target, 1.0)
        short_prob = params.quick_exchange_prob if turns and _is_short(turns[-1]) else params.short_turn_prob
        turn = d.plan_turn(speaker, k, progress, short=bool(turns) and short_prob > 0 and rng.random() < short_prob)
        if turns:
            own_last = turns[-2].end if len(turns) >= 2 else -_GUARD_FRAMES
            # after a short answer to a long turn, the answered party resumes >= 1.2 s after its own last
            # speech, so the answer is never inside a pause short enough to hold a backchannel (<= 1.0 s)
            answered = len(turns) >= 2 and _is_short(turns[-1]) and not _is_short(turns[-2])
            turn.kind_in, start = d.transition(turns[-1], turn, earliest=own_last + (_YIELD_FRAMES if answered else _GUARD_FRAMES))
        d.place_turn(turn, start)
        turns.append(turn)
        if (target is None and len(turns) >= params.n_turns) or (target is not None and turn.end >= target) or len(turns) > 5000:
            break
        speaker = other[speaker]
    extras: list[_Item] = []
    for k in range(len(turns)):
        extras += d.add_listener_events(turns, k)
    return turns, extras


# ----------------------------------------------------------------------------- truth


def _sec(frame: int) -> float:
    return round(frame * FRAME_S, 2)


def _truth(params, speakers, turns, extras, masks, n_frames, drawn) -> dict:
    segs = {party: _runs_true(masks[party]) for party in (AGENT, CUSTOMER)}
    for party in (AGENT, CUSTOMER):  # the design must be exactly what the detector sees
        designed = sorted(r for t in turns if t.speaker == party for r in t.runs)
        designed += [r for it in extras if it.party == party for r in it.runs]
        if sorted(designed) != segs[party]:
            raise SimulationError(f"internal: designed {party} segments differ from detected ones (seed {params.seed})")
    segments = sorted(
        ({"speaker": party, "start_s": _sec(a), "end_s": _sec(b)} for party in segs for a, b in segs[party]),
        key=lambda s: (s["start_s"], s["speaker"]),
    )
    turn_rows, transitions, interruptions = [], [], []
    for k, t in enumerate(turns):
        runs = t.runs
        turn_rows.append({
            "index": k, "speaker": t.speaker, "start_s": _sec(t.start), "end_s": _sec(t.end), "emotion": t.emotion,
            "speech_s": _sec(sum(b - a for a, b in runs)), "n_segments": len(runs), "taken_by": t.kind_in,
        })
        if k:
            prev = turns[k - 1]
            transitions.append({
                "from": prev.speaker, "to": t.speaker, "fto_s": _sec(t.start - prev.end), "time_s": _sec(t.start), "kind": t.kind_in,
            })
            if t.kind_in == "interruption":
                interruptions.append({
                    "speaker": t.speaker, "other": prev.speaker, "start_s": _sec(t.start), "end_s": _sec(prev.end),
                    "outcome": "successful", "turn": k,
                })
    backchannels = []
    for it in extras:
        (a, b), = it.runs
        other = turns[it.turn].speaker
        if it.role == "backchannel":
            backchannels.append({"speaker": it.party, "other": other, "start_s": _sec(a), "end_s": _sec(b), "turn": it.turn})
        else:
            interruptions.append({"speaker": it.party, "other": other, "start_s": _sec(a), "end_s": _sec(b), "outcome": "attempt", "turn": it.turn})
    backchannels.sort(key=lambda e: e["start_s"])
    interruptions.sort(key=lambda e: e["start_s"])
    anyone = masks[AGENT] | masks[CUSTOMER]
    active = _runs_true(anyone)
    silences = [(e, s) for (_, e), (s, _) in zip(active, active[1:])]
    dead_air = [{"start_s": _sec(a), "end_s": _sec(b)} for a, b in silences if b - a >= 500]
    holds = [{"start_s": _sec(a), "end_s": _sec(b)} for a, b in silences if b - a >= 2000]
    speech = {party: int(masks[party].sum()) for party in (AGENT, CUSTOMER)}
    changes = len(transitions)
    duration_s = _sec(n_frames)
    lat = {party: [tr["fto_s"] for tr in transitions if tr["to"] == party] for party in (AGENT, CUSTOMER)}
    summary = {
        "speech_s_agent": _sec(speech[AGENT]),
        "speech_s_customer": _sec(speech[CUSTOMER]),
        "talk_ratio_agent": round(speech[AGENT] / max(speech[AGENT] + speech[CUSTOMER], 1), 4),
        "overlap_ratio": round(float((masks[AGENT] & masks[CUSTOMER]).mean()), 4),
        "silence_ratio": round(float((~anyone).mean()), 4),
        "turns_agent": sum(t.speaker == AGENT for t in turns),
        "turns_customer": sum(t.speaker == CUSTOMER for t in turns),
        "interactivity_per_min": round(changes / (duration_s / 60.0), 3),
        "agent_latency_median_s": round(float(np.median(lat[AGENT])), 3) if lat[AGENT] else None,
        "customer_latency_median_s": round(float(np.median(lat[CUSTOMER])), 3) if lat[CUSTOMER] else None,
        "interruptions_by_agent": sum(i["speaker"] == AGENT for i in interruptions),
        "interruptions_by_customer": sum(i["speaker"] == CUSTOMER for i in interruptions),
        "backchannels_agent": sum(b["speaker"] == AGENT for b in backchannels),
        "backchannels_customer": sum(b["speaker"] == CUSTOMER for b in backchannels),
        "dead_air_count": len(dead_air),
        "holds": len(holds),
    }
    clip_rows = []
    for it in sorted([i for t in turns for i in t.items] + extras, key=lambda i: i.offset):
        (a, _), (_, b) = it.runs[0], it.runs[-1]
        clip_rows.append({
            "file": it.clip.rel_path, "corpus": it.clip.rel_path.split("/")[0], "speaker": it.party,
            "corpus_speaker": speakers[it.party].key, "label": it.label, "role": it.role, "turn": it.turn,
            "offset_s": _sec(it.offset), "clip_start_s": round(it.clip.start_in_file_s, 2),
            "ref_db": round(it.clip.ref_db, 4),
            "duration_s": _sec(len(it.clip.audio) // FRAME_SAMPLES), "speech_start_s": _sec(a), "speech_end_s": _sec(b),
        })
    return {
        "schema": TRUTH_SCHEMA,
        "params": params.to_dict(),
        "drawn": drawn,
        "sample_rate_hz": params.sample_rate_hz,
        "duration_s": duration_s,
        "speakers": {party: {"corpus_speaker": s.key, "corpus": s.corpus, "gender": s.gender} for party, s in speakers.items()},
        "segments": segments,
        "turns": turn_rows,
        "transitions": transitions,
        "backchannels": backchannels,
        "interruptions": interruptions,
        "dead_air": dead_air,
        "holds": holds,
        "summary": summary,
        "clips": clip_rows,
        "truth_detector": {
            "frame_s": FRAME_S, "reference": params.truth_reference, "threshold_db": params.resolved_truth_threshold_db,
            "clip_active_dbfs": CLIP_ACTIVE_DBFS, "highpass_hz": HIGHPASS_HZ, "band_hz": list(truth_band_hz(params)),
            "min_speech_s": params.min_speech_s, "min_silence_s": params.min_silence_s,
            "dead_air_s": 5.0, "hold_s": 20.0,
        },
    }


# ----------------------------------------------------------------------------- rendering


def _active_level_db(x: np.ndarray, mask: np.ndarray, rate_hz: int) -> float:
    """Mean power in dB over the 10 ms frames where ``mask`` (one bool per 10 ms) is True."""
    hop = rate_hz // 100
    n = min(len(x) // hop, len(mask))
    frames = np.asarray(x[: n * hop], dtype=np.float64).reshape(n, hop)
    power = np.mean(frames[mask[:n]] ** 2) if mask[:n].any() else np.mean(frames**2)
    return float(10.0 * np.log10(power + 1e-20))


def _resample(x: np.ndarray, rate_in: int, rate_out: int, n_out: int) -> np.ndarray:
    y = x if rate_in == rate_out else soxr.resample(x, rate_in, rate_out, quality="HQ")
    y = np.asarray(y, dtype=np.float32)
    return np.pad(y, (0, max(n_out - len(y), 0)))[:n_out]


@functools.lru_cache(maxsize=8)
def _band_sos(rate_hz: int) -> np.ndarray:
    return signal.butter(4, TELEPHONE_BAND_HZ, btype="bandpass", fs=rate_hz, output="sos")


def _bandpass(x: np.ndarray, rate_hz: int) -> np.ndarray:
    """Telephone band-limit, 300-3400 Hz, zero phase (so the truth timing is not shifted)."""
    return _forward_backward(_band_sos(rate_hz), x)


def _mulaw_roundtrip(x: np.ndarray, rate_hz: int) -> np.ndarray:
    """G.711 mu-law encode and decode (libsndfile), shape kept."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1.0, 1.0), rate_hz, format="WAV", subtype="ULAW")
    buf.seek(0)
    y, _ = sf.read(buf, dtype="float32", always_2d=x.ndim == 2)
    return y


def _render(params, turns, extras, n_frames, rng, drawn) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Clean tracks -> working rate (8 kHz for telephone) -> telephone band -> levels -> crosstalk -> noise
    -> mu-law -> output rate."""
    n16 = n_frames * FRAME_SAMPLES
    tracks = {AGENT: np.zeros(n16, np.float32), CUSTOMER: np.zeros(n16, np.float32)}
    raw_masks = {AGENT: np.zeros(n_frames, bool), CUSTOMER: np.zeros(n_frames, bool)}
    for it in [i for t in turns for i in t.items] + extras:
        a = it.offset * FRAME_SAMPLES
        tracks[it.party][a : a + len(it.clip.audio)] += it.clip.audio
        raw_masks[it.party][it.offset : it.offset + len(it.clip.mask)] |= it.clip.mask
    masks = {
        party: smooth_frames(m, FRAME_S, min_speech_s=params.min_speech_s, min_silence_s=params.min_silence_s)
        for party, m in raw_masks.items()
    }
    work_rate = TELEPHONE_RATE_HZ if params.telephone else params.sample_rate_hz
    n_work = n_frames * work_rate // 100
    band = _bandpass if params.telephone else (lambda x, rate: x)
    wide: dict[str, np.ndarray] = {}
    comp: dict[str, np.ndarray] = {}
    for party, target in ((AGENT, drawn["agent_level_dbfs"]), (CUSTOMER, drawn["customer_level_dbfs"])):
        wide[party] = _resample(tracks[party], CORPUS_RATE_HZ, work_rate, n_work)
        limited = band(wide[party], work_rate)
        gain = 10 ** ((target - _active_level_db(limited, masks[party], work_rate)) / 20)
        drawn.setdefault("clean_gain_db", {})[party] = round(float(20 * np.log10(gain)), 4)
        tracks[party] *= gain
        wide[party] *= gain
        comp[party] = limited * gain
    leak_sos = signal.butter(2, (200.0, min(3000.0, 0.45 * work_rate)), btype="bandpass", fs=work_rate, output="sos")
    for party, direction in ((AGENT, "agent_to_customer"), (CUSTOMER, "customer_to_agent")):
        delay = int(round(drawn["echo_delay_ms"][direction] / 1000 * work_rate))
        echo = np.concatenate([np.zeros(delay), signal.sosfilt(leak_sos, wide[party])])[:n_work]
        echo = band(echo, work_rate)
        power_ratio = 10 ** (drawn["crosstalk_db"][direction] / 10)
        comp["leak_" + party] = echo * np.sqrt(power_ratio * np.sum(comp[party] ** 2) / max(np.sum(echo**2), 1e-20))
    channels = np.stack([comp[AGENT] + comp["leak_" + CUSTOMER], comp[CUSTOMER] + comp["leak_" + AGENT]], axis=1)
    mono = comp[AGENT] + comp[CUSTOMER]
    if params.snr_db is not None:
        anyone = masks[AGENT] | masks[CUSTOMER]
        refs = [
            (channels[:, 0], _active_level_db(comp[AGENT], masks[AGENT], work_rate)),
            (channels[:, 1], _active_level_db(comp[CUSTOMER], masks[CUSTOMER], work_rate)),
            (mono, _active_level_db(mono, anyone, work_rate)),
        ]
        for target, level_db in refs:
            noise = rng.standard_normal(n_work, dtype=np.float32)
            if params.telephone:  # line noise inside the telephone band (causal filter: timing of noise is irrelevant)
                noise = signal.sosfilt(_band_sos(work_rate), noise)
            noise *= 10 ** ((level_db - params.snr_db) / 20) / np.sqrt(np.mean(noise**2))
            target += noise
    headroom = {}
    for name, x in (("stereo", channels), ("mono", mono)):
        peak = float(np.max(np.abs(x)))
        headroom[name] = 1.0 if peak <= _PEAK_MAX else _PEAK_MAX / peak
        x *= headroom[name]
    drawn["headroom_gain_db"] = {k: round(float(20 * np.log10(v)), 2) for k, v in headroom.items()}
    n_out = n_frames * params.sample_rate_hz // 100
    if params.telephone:
        channels = _mulaw_roundtrip(channels, work_rate)
        mono = _mulaw_roundtrip(mono, work_rate)
    stereo = np.stack([_resample(channels[:, i], work_rate, params.sample_rate_hz, n_out) for i in (0, 1)], axis=1)
    mono = _resample(mono, work_rate, params.sample_rate_hz, n_out)
    clean = np.stack([tracks[AGENT], tracks[CUSTOMER]], axis=1).astype(np.float32)
    return stereo.astype(np.float32), mono.astype(np.float32), clean, masks


# ----------------------------------------------------------------------------- public API


def simulate_call(params: SimulationParams, *, corpora_root: Path) -> SimulatedCall:
    """Build one call: design the timeline, detect the truth on the clean clips, render the channel.

    Deterministic for ``params`` (same seed -> same samples and truth).
    """
    root_str = str(Path(corpora_root).resolve())
    index = _corpus_index(root_str)
    rng = np.random.default_rng(params.seed)
    speakers = _choose_speakers(index, params, rng)
    jitter = params.level_jitter_db
    lo, hi = params.crosstalk_range_db
    xt = [params.crosstalk_db] * 2 if params.crosstalk_db is not None else list(rng.uniform(lo, hi, 2))
    delays = rng.uniform(0.0, params.echo_delay_max_ms, 2)
    drawn = {
        "agent_level_dbfs": round(params.agent_level_dbfs + rng.uniform(-jitter, jitter), 2),
        "customer_level_dbfs": round(params.customer_level_dbfs + rng.uniform(-jitter, jitter), 2),
        "crosstalk_db": {"agent_to_customer": round(float(xt[0]), 2), "customer_to_agent": round(float(xt[1]), 2)},
        "echo_delay_ms": {"agent_to_customer": round(float(delays[0]), 1), "customer_to_agent": round(float(delays[1]), 1)},
    }
    turns, extras = _design(params, root_str, speakers, rng)
    last = max([t.end for t in turns] + [it.offset + len(it.clip.mask) for it in extras] +
               [it.offset + len(it.clip.mask) for t in turns for it in t.items])
    n_frames = last + int(round(rng.uniform(0.5, 1.5) / FRAME_S))
    stereo, mono, clean, masks = _render(params, turns, extras, n_frames, rng, drawn)
    truth = _truth(params, speakers, turns, extras, masks, n_frames, drawn)
    return SimulatedCall(stereo, mono, params.sample_rate_hz, truth, clean)


def write_call(call: SimulatedCall, out_dir: Path, name: str, *, mono: bool = False) -> Path:
    """Write ``<name>.wav`` (stereo, or the mono mix) and ``<name>.truth.json`` into ``out_dir``; returns the WAV path.

    Telephone calls at 8 kHz are written as G.711 mu-law WAV (as a telephony
    recorder would); everything else as 16-bit PCM.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wav = out_dir / f"{name}.wav"
    telephone = call.truth["params"]["telephone"] and call.sample_rate_hz == TELEPHONE_RATE_HZ
    sf.write(wav, call.mono if mono else call.stereo, call.sample_rate_hz, subtype="ULAW" if telephone else "PCM_16")
    truth = dict(call.truth, audio={"file": wav.name, "mode": "mono" if mono else "stereo",
                                     "channels": None if mono else {"agent": 0, "customer": 1}})
    (out_dir / f"{name}.truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return wav


def call_seed(seed: int, index: int) -> int:
    """The seed of call ``index`` of a cohort with ``seed`` (independent streams per call)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def simulate_cohort(n_calls: int, *, seed: int, out_dir: Path, corpora_root: Path, mono: bool = False,
                    prefix: str = "call", **param_overrides) -> list[Path]:
    """Simulate and write ``n_calls`` calls named ``<prefix>_0000`` ...; returns the WAV paths.

    ``param_overrides`` are :class:`SimulationParams` fields (except ``seed``) shared by every call.
    """
    known = {f.name for f in dataclasses.fields(SimulationParams)} - {"seed"}
    unknown = set(param_overrides) - known
    if unknown:
        raise SimulationError(f"unknown simulation parameter(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    paths = []
    for i in range(n_calls):
        params = SimulationParams(seed=call_seed(seed, i), **param_overrides)
        call = simulate_call(params, corpora_root=corpora_root)
        paths.append(write_call(call, out_dir, f"{prefix}_{i:04d}", mono=mono))
    return paths
