"""The per-call result (schema ``call-analyzer/call/1``, see docs/result-schema.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA = "call-analyzer/call/1"


@dataclass(frozen=True)
class CallResult:
    """Everything about one analysed call. Plain data: lists of dicts for tables."""

    call_id: str
    path: str
    duration_s: float
    mode: str  # "stereo" or "mono"
    sample_rate_hz: int
    analysis_rate_hz: int
    channels: dict[str, int] | None
    params: dict[str, Any]
    params_digest: str
    versions: dict[str, str]
    metrics: dict[str, Any]
    turns: list[dict[str, Any]]
    segments: list[dict[str, Any]]
    events: list[dict[str, Any]]
    emotion: dict[str, Any]
    qa: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    content_sha256: str | None = None
    file_size: int | None = None
    file_mtime_ns: int | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    diarization: dict[str, Any] | None = None  # mono calls: agent rule, confidences, speaker-count estimate
    analysed_at: str | None = None  # ISO-8601 UTC time the analysis finished (re-scoring keeps it)
    envelope: dict[str, Any] | None = None  # coarse loudness per channel for the call page (frames.energy_envelope)
    unreliable_metrics: dict[str, str] = field(default_factory=dict)  # metric key -> why it is null or unreliable
    asr: dict[str, Any] | None = None  # transcription: model, licence, weights checksum, call language (None = off)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "call_id": self.call_id,
            "path": self.path,
            "content_sha256": self.content_sha256,
            "file_size": self.file_size,
            "file_mtime_ns": self.file_mtime_ns,
            "duration_s": round(self.duration_s, 3),
            "mode": self.mode,
            "sample_rate_hz": self.sample_rate_hz,
            "analysis_rate_hz": self.analysis_rate_hz,
            "channels": self.channels,
            "diarization": self.diarization,
            "versions": self.versions,
            "params": self.params,
            "params_digest": self.params_digest,
            "metrics": self.metrics,
            "unreliable_metrics": self.unreliable_metrics,
            "turns": self.turns,
            "segments": self.segments,
            "events": self.events,
            "emotion": self.emotion,
            "asr": self.asr,
            "qa": self.qa,
            "warnings": self.warnings,
            "timings_s": self.timings_s,
            "analysed_at": self.analysed_at,
            "envelope": self.envelope,
        }
