"""One call, start to end: load -> frames -> segments -> turns/events -> metrics, prosody, emotion -> result.

:func:`analyze_file` is the function every entry point (CLI, batch, Dask)
ends in. Data flows one way; each stage is a module of pure functions.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import time
from datetime import datetime, timezone
from pathlib import Path

from ._version import __version__
from .audio import AudioInfo, probe, read_span
from .config import AnalysisConfig, AudioConfig, EmotionConfig, QaConfig
from .errors import AudioError
from .frames import energy_envelope, measure_frames
from .intervals import AGENT, CUSTOMER, UNKNOWN
from .metrics.emotion import call_emotion_summary
from .metrics.pacing import PARTIES, pacing_metrics, turn_rows
from .metrics.prosody import prosody_metrics
from .metrics.reliability import unreliable_metrics
from .metrics.words import words_metrics
from .result import CallResult
from .turns import Conversation, Turn, analyse_conversation
from .vad import channel_segments, drop_leading_noise, noise_party_warnings, party_rejected_shares, voiced_frame_share


def file_digest(path: str | Path, *, chunk_bytes: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def analyze_file(
    path: str | Path, config: AnalysisConfig | None = None, *, call_id: str | None = None, emotion_model=None,
    asr_model=None,
) -> CallResult:
    """Analyse one recording and return its :class:`CallResult`.

    ``emotion_model``: an already loaded model (batch workers load it once); if
    None and emotion is enabled, the configured model is loaded (and cached).
    Raises :class:`~analyzer.errors.AnalyzerError` with a one-line reason on bad input.
    Each stage gets its own config section and returns new values; nothing is changed in place.
    """
    config = config or AnalysisConfig()
    path = Path(path)
    clock = _StageClock()

    info = probe(path, min_duration_s=config.audio.min_duration_s)
    stat = path.stat()
    digest = file_digest(path)
    mono = info.n_channels == 1 or config.audio.mono_mix
    speakers = [UNKNOWN] if mono else list(config.audio.channels)
    clock.lap("probe")

    frames = measure_frames(info, config.audio, config.vad, config.prosody if config.prosody.enabled else None)
    clock.lap("decode_vad_prosody")
    info, length_warning = decoded_length(info, frames.decoded_s, tolerance_s=config.audio.length_mismatch_s)

    segments = channel_segments(frames.vad, frames.energy_db, speakers, config.vad)
    segments = drop_leading_noise(segments, functools.partial(voiced_share, info, speakers),
                                  max_s=config.vad.leading_noise_max_s, min_voiced_share=config.vad.min_voiced_share)
    if not segments:
        rechecked = any(r["checked"] for r in frames.noise_check)
        raise AudioError("no speech found in any channel (silent or constant recording"
                         + (", or noise only: silero-vad heard no speech in what webrtcvad took for it)" if rechecked else ")"),
                         path=str(path))
    clock.lap("vad_segments")
    diarization = None
    mixed_speech = segments if mono else None
    if mono:
        from .diarize import diarize

        diarization = diarize(info, segments, config=config.diarization)
        segments = list(diarization.segments)
        clock.lap("diarization")
    channel_of = {AGENT: 0, CUSTOMER: 0} if mono else {name: i for i, name in enumerate(config.audio.channels)}
    conv = analyse_conversation(segments, config.turns, mixed_speech=mixed_speech)
    pacing = pacing_metrics(conv, info.duration_s)
    timing_rows = turn_rows(conv)
    clock.lap("turns_metrics")

    turn_prosody, prosody_call = [{} for _ in conv.turns], {}
    if frames.f0_hz is not None:
        turn_prosody, prosody_call = prosody_metrics(conv, frames, channel_of, config.prosody)
    clock.lap("prosody_metrics")

    turn_emotion, emotion_info = [{} for _ in conv.turns], {"enabled": False, "model": None, "licence": None}
    if config.emotion.enabled:
        turn_emotion, emotion_info = score_emotion(info, conv, channel_of, config.emotion, emotion_model)
    rows = [{**timing, **pros, **emo} for timing, pros, emo in zip(timing_rows, turn_prosody, turn_emotion)]
    emotion_call = {}
    if config.emotion.enabled:
        emotion_call, null_reasons = call_emotion_summary(rows, **config.emotion.call_metrics())
        emotion_info = {**emotion_info, "null_reasons": null_reasons}
    clock.lap("emotion")
    asr_info, words_call = None, {}
    if config.asr.enabled:
        from .words import transcribe_turns

        turn_words, asr_info = transcribe_turns(info, conv, channel_of, config.asr, asr_model)
        rows = [{**row, **words} for row, words in zip(rows, turn_words)]
        words_call = words_metrics(rows, config.asr)
        clock.lap("words")
    metrics = {**pacing, **prosody_call, **emotion_call, **words_call}
    events = [e.to_dict() for e in conv.events]

    metrics, unreliable = unreliable_metrics(
        metrics, conv, mono=mono, n_speakers_estimate=None if diarization is None else diarization.n_speakers_estimate)
    warnings = [length_warning] if length_warning else []
    if diarization is not None:
        warnings.extend(diarization.warnings)
        switches = sum(not t.fto_measured for t in conv.turns)
        warnings.append("mono call: overlap and interruptions are not measured (null), backchannel counts are lower bounds"
                        + (f"; {switches} speaker changes lie inside continuous speech and have no measured gap" if switches else ""))
    else:
        warnings.extend(f"no speech found on the {party} channel (one-sided recording or wrong channel mapping)"
                        for party in PARTIES if not any(s.speaker == party for s in segments))
    if frames.speech_prob is not None:
        shares = party_rejected_shares(segments, frames.speech_prob, channel_of, hop_s=frames.hop_s,
                                       threshold=config.vad.noise_check_threshold)
        warnings.extend(noise_party_warnings(shares, min_rejected=config.vad.noise_party_min_rejected,
                                             min_scored_s=config.vad.noise_party_min_scored_s,
                                             threshold=config.vad.noise_check_threshold))

    versions = {"call_analyzer": __version__}
    versions.update({k: v for k, v in (("emotion_model", emotion_info.get("model")),
                                        ("emotion_licence", emotion_info.get("licence")),
                                        ("emotion_weights_sha256", emotion_info.get("weights_sha256")),
                                        ("emotion_encoder_sha256", emotion_info.get("encoder_sha256"))) if v})
    if asr_info:
        versions.update(asr_model=asr_info["model"], asr_weights_sha256=asr_info["weights_sha256"])
    qa = (score_call({"metrics": metrics, "turns": rows, "events": events, "unreliable_metrics": unreliable,
                      "params": {"emotion": config.emotion.call_metrics()}, "versions": versions}, config.qa)
          if config.qa.enabled else None)
    return CallResult(
        call_id=call_id or path.stem,
        path=str(path.resolve()),
        duration_s=info.duration_s,
        mode="mono" if mono else "stereo",
        sample_rate_hz=info.sample_rate_hz,
        analysis_rate_hz=info.analysis_rate_hz,
        channels=None if mono else {name: i for i, name in enumerate(config.audio.channels)},
        params=config.to_dict(),
        params_digest=config.digest(),
        versions=versions,
        metrics=metrics,
        unreliable_metrics=unreliable,
        turns=rows,
        segments=[s.to_dict() for s in conv.segments],
        events=events,
        emotion=emotion_info,
        asr=asr_info,
        qa=qa,
        warnings=warnings,
        content_sha256=digest,
        file_size=stat.st_size,
        file_mtime_ns=stat.st_mtime_ns,
        timings_s=clock.timings_s(),
        analysed_at=datetime.now(tz=timezone.utc).isoformat(),
        envelope=energy_envelope(frames.energy_db, frames.hop_s, ["mix"] if mono else list(config.audio.channels)),
        diarization=None if diarization is None else {
            "agent_rule": config.diarization.agent,
            "agent_confidence": diarization.agent_confidence,
            "separation_confidence": diarization.separation_confidence,
            "n_speakers_estimate": diarization.n_speakers_estimate,
            "voice_measures": diarization.voice_measures,
        },
    )


class _StageClock:
    """Wall time per stage: ``lap(name)`` records the seconds since the previous lap."""

    def __init__(self) -> None:
        self._laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self._laps[name], self._last = now - self._last, now

    def timings_s(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self._laps.items()}


def voiced_share(info: AudioInfo, speakers: list[str], segment) -> float:
    """Voiced share of ``segment`` in its own channel (``speakers`` names the channels; one name: the mix)."""
    audio = read_span(info, segment.start_s, segment.end_s)
    samples = audio[:, speakers.index(segment.speaker)] if len(speakers) > 1 else audio.mean(axis=1)
    return voiced_frame_share(samples, info.analysis_rate_hz)



def decoded_length(info: AudioInfo, decoded_s: float, *,
                   tolerance_s: float = AudioConfig.length_mismatch_s) -> tuple[AudioInfo, str | None]:
    """The file's info with its length set to what was really decoded, and a warning when the header lied.

    Truncated files (a recorder killed mid-call, a copy cut short) decode less audio than their
    header promises; every duration-based metric must use the decoded length, in seconds. A
    difference up to ``tolerance_s`` (or 1% of the call) is no warning.
    """
    decoded_samples = int(round(decoded_s * info.sample_rate_hz))
    if abs(decoded_s - info.duration_s) <= max(tolerance_s, 0.01 * info.duration_s):
        return info, None
    warning = (f"the header promises {info.duration_s:.1f} s of audio but {decoded_s:.1f} s could be decoded "
               "(truncated or damaged file); analysed the decoded audio")
    return dataclasses.replace(info, n_samples=decoded_samples), warning


def score_call(call: dict, config: QaConfig) -> dict:
    """The QA scorecard of one call (``metrics``, ``turns``, ``events``); the rules file is parsed once per process."""
    from . import qa

    return qa.evaluate(_rules(config.rules), call)


@functools.lru_cache(maxsize=8)
def _rules(rules: str):
    from . import qa

    return qa.load_default_rules() if rules == "default" else qa.load_rules(rules)


def score_emotion(
    info: AudioInfo, conv: Conversation, channel_of: dict[str, int], config: EmotionConfig, model,
) -> tuple[list[dict], dict]:
    """Score every turn's audio (from its own channel): one new dict per turn of ``conv.turns``
    (the emotion keys, None for unscored turns) and the model's identity for the result.

    Turns are read from the file and scored in chunks of at most ``config.chunk_s`` seconds of
    audio, so a multi-hour call is never held in memory; the per-speaker baseline is taken
    over each chunk (the whole call for calls shorter than that).
    """
    from . import emotion

    model = model or emotion.load_model(config.model)
    decision = config.decision_for(model.config)
    scored: dict[int, dict] = {}
    for chunk in _turn_chunks(list(conv.turns), config.chunk_s):
        clips = []
        for turn in chunk:
            audio = read_span(info, turn.start_s, turn.end_s)
            clips.append(audio[:, channel_of[turn.speaker]] if audio.shape[1] > 1 else audio[:, 0])
        scores = emotion.score_turns(
            model, clips, info.analysis_rate_hz, [t.speaker for t in chunk],
            min_turn_s=config.min_turn_s, window_s=config.window_s, hop_s=config.hop_s, **decision,
        )
        scored.update((turn.index, score or dict.fromkeys(EMOTION_TURN_KEYS)) for turn, score in zip(chunk, scores))
    identity = {"enabled": True, "model": model.name, "licence": model.licence,
                "weights_sha256": model.config.get("weights_sha256") or model.config.get("heads_sha256"),
                "encoder_sha256": (model.config.get("encoder") or {}).get("sha256"),
                "decision": {k: list(v) if isinstance(v, tuple) else v for k, v in decision.items()}}
    return [scored[turn.index] for turn in conv.turns], identity


def _turn_chunks(turns: list[Turn], max_s: float) -> list[list[Turn]]:
    """Consecutive turns grouped so that each group holds at most ``max_s`` seconds (a longer turn alone)."""
    chunks: list[list[Turn]] = []
    total = max_s
    for turn in turns:
        if total + turn.duration_s > max_s and (not chunks or chunks[-1]):
            chunks.append([])
            total = 0.0
        chunks[-1].append(turn)
        total += turn.duration_s
    return [c for c in chunks if c]


EMOTION_TURN_KEYS = ("emotion_label", "p_neutral", "p_happy", "p_angry", "p_sad", "arousal", "valence", "emotion_confidence",
                     "emotion_uncertain")
