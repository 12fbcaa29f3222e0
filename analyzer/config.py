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

from .diarize import DiarizationConfig
from .errors import ConfigError


@dataclass(frozen=True)
class AudioConfig:
    """How audio is read.

    channels: role of each channel of a stereo file, left first.
    block_s: seconds of audio decoded at once (bounds memory on long calls).
    mono_mix: treat a stereo file as one mixed channel.
    """

    channels: tuple[str, str] = ("agent", "customer")
    block_s: float = 60.0
    mono_mix: bool = False
    min_duration_s: float = 0.5

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
    frame_ms: analysis frame hop in milliseconds (10, 20 or 30 for webrtc).
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
    frame_ms: int = 10
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
    pitch_step_s: Praat's pitch time step; 0.02 halves the pitch cost (F0 interpolated to 10 ms frames).
    """

    enabled: bool = True
    pitch_floor_hz: float = 75.0
    pitch_ceiling_hz: float = 500.0
    nucleus_dip_db: float = 1.0
    nucleus_threshold_db: float = -4.0
    semitone_reference_hz: float = 100.0
    pitch_step_s: float = 0.02


@dataclass(frozen=True)
class EmotionConfig:
    """Per-turn emotion scoring.

    model: 'open', 'multi' or a path to a model folder.
    min_turn_s: turns shorter than this get no score.
    window_s / hop_s: long turns are scored in windows and pooled.

    The decision layer (docs/emotion.md, "Decision layer"; chosen on simulated calls built from
    training corpora only, never on TESS/TurEV/ASED or real calls):
    absolute_reference: the baseline of the absolute evidence: 'turn' (each turn normalised against
        itself) or 'global' (against the training corpora's statistics).
    relative_weight: weight of the speaker-relative evidence against the absolute (turn-own) evidence,
        in log-probability space (1.0 = the model's raw speaker-relative output).
    prior: expected class shares of conversational speech (neutral, happy, angry, sad); the models
        were trained class-balanced.
    temperature: divides the combined log-probabilities (> 1 softens over-confident outputs).
    uncertain_below: a turn whose largest probability is below this is labelled neutral and flagged
        ``emotion_uncertain`` (its confidence stays low).

    Call-level emotion (docs/emotion.md, "Per-call metrics"):
    trajectory_share: start / end = the first / last this share of the customer's scored speech time.
    min_trajectory_speech_s: below this much scored customer speech (s), or with fewer than
        min_trajectory_turns scored customer turns, start/end/turnaround are null with a reason.
    min_party_speech_s: a party's angry share and mean valence need this much scored speech (s).
    """

    enabled: bool = True
    model: str = "open"
    min_turn_s: float = 0.5
    window_s: float = 4.0
    hop_s: float = 2.0
    speaker_normalisation: bool = True
    absolute_reference: str = "global"
    relative_weight: float = 0.25
    prior: tuple[float, float, float, float] = (0.25, 0.25, 0.25, 0.25)
    temperature: float = 0.9
    uncertain_below: float = 0.5
    trajectory_share: float = 1.0 / 3.0
    min_trajectory_speech_s: float = 9.0
    min_trajectory_turns: int = 3
    min_party_speech_s: float = 3.0

    def __post_init__(self):
        if not 0.0 <= self.relative_weight <= 1.0:
            raise ConfigError(f"emotion.relative_weight must be within 0..1, got {self.relative_weight}")
        if len(self.prior) != 4 or min(self.prior) <= 0:
            raise ConfigError(f"emotion.prior needs 4 positive shares (neutral, happy, angry, sad), got {list(self.prior)}")
        if self.absolute_reference not in ("turn", "global"):
            raise ConfigError(f"emotion.absolute_reference must be 'turn' or 'global', got {self.absolute_reference!r}")
        if self.temperature <= 0:
            raise ConfigError(f"emotion.temperature must be positive, got {self.temperature}")
        if not 0.0 < self.trajectory_share <= 0.5:
            raise ConfigError(f"emotion.trajectory_share must be within (0, 0.5], got {self.trajectory_share}")

    def decision(self) -> dict:
        """The decision layer's keyword arguments for :func:`analyzer.emotion.score_turns`."""
        return {"absolute_reference": self.absolute_reference, "relative_weight": self.relative_weight, "prior": tuple(self.prior), "temperature": self.temperature,
                "uncertain_below": self.uncertain_below}

    def call_metrics(self) -> dict:
        """The keyword arguments for :func:`analyzer.metrics.emotion.call_emotion_metrics`."""
        return {"trajectory_share": self.trajectory_share, "min_trajectory_speech_s": self.min_trajectory_speech_s,
                "min_trajectory_turns": self.min_trajectory_turns, "min_party_speech_s": self.min_party_speech_s}


@dataclass(frozen=True)
class QaConfig:
    """QA scorecard: 'default' (the shipped analyzer/default_rules.toml) or a rules file (TOML/YAML)."""

    enabled: bool = True
    rules: str = "default"


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
