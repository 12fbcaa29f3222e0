#!/usr/bin/env python3
"""Pacing accuracy on simulated telephone calls, ours and peers side by side, same calls, same run.

Each call is built by the simulator from real corpus clips (fixed seed) with
line noise, crosstalk and an 8 kHz mu-law channel, written as a WAV, and
analysed by every system. Peers go through the SAME smoothing and turn logic
as ours, so only speech detection differs:

- ``call-analyzer``: webrtcvad + energy/noise gates + crosstalk model + the drop of non-speech before each
  party's first voice (the default pipeline)
- ``webrtcvad-2`` / ``webrtcvad-3``: raw webrtcvad decisions per channel (modes 2 and 3)
- ``call-ai-metrics``: the PyPI package's own per-channel detector (energy + crosstalk modelling)
- ``silero-vad``: ``silero_vad.get_speech_timestamps`` per channel, its defaults (threshold 0.5)
- ``call-analyzer-mono``: ours on the mono mix of the same call: VAD on one channel, then
  ``analyzer.diarize.diarize`` splits the speech between agent and customer (no peer does this)
- ``librosa-split``: a plain energy threshold per channel, ``librosa.effects.split`` (top_db 30, 50 ms frames, 10 ms hop)

Figures: per-channel speech F1 (pooled frames), share of true speaker changes
found with FTO within 100 ms, share missed, mean |FTO error|, mean relative
turn-count error, mean and max |talk-ratio error|; interruption and backchannel
precision/recall (a detected event matches a true one of the same speaker with
onset within 0.5 s), dead-air precision/recall (matched by overlap) and
|agent latency median error|.

    python scripts/eval_pacing.py --n 40 --seed 1
    python scripts/eval_pacing.py --n 40 --seed 2 --snr-db 10 --crosstalk-db -25 --json out.json
    python scripts/eval_pacing.py --n 40 --seed 1 --truth strict
    python scripts/eval_pacing.py --n 20 --seed 1 --condition hard-cases   # short answers, quick exchanges
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analyzer.audio import probe  # noqa: E402
from analyzer.config import AnalysisConfig  # noqa: E402
from callsim.evaluation import Transition, match_transitions, transitions_from_turns  # noqa: E402
from analyzer.frames import extract_frames  # noqa: E402
from analyzer.intervals import AGENT, CUSTOMER, UNKNOWN, Segment, frames_to_segments, segments_to_frames, smooth_frames  # noqa: E402
from analyzer.metrics.pacing import latencies, turn_rows  # noqa: E402
from callsim.simulate import HARD_CASES, SimulationParams, call_seed, simulate_call  # noqa: E402
from analyzer.turns import analyse_conversation  # noqa: E402
from analyzer.vad import channel_segments  # noqa: E402

CORPORA = REPO.parent / "shared" / "corpora"
PARTIES = (AGENT, CUSTOMER)
SYSTEMS = ("call-analyzer", "webrtcvad-2", "webrtcvad-3", "call-ai-metrics", "silero-vad", "librosa-split")
MONO = "call-analyzer-mono"  # opt-in (diarizes the mono mix); not in SYSTEMS
EVENT_ONSET_WINDOW_S = 0.5
ENERGY_TOP_DB = 30.0


@lru_cache(maxsize=1)
def _silero_model():
    from silero_vad import load_silero_vad

    return load_silero_vad(onnx=False)


def raw_peer_segments(system: str, samples: np.ndarray, rate_hz: int, speakers: list[str]) -> list[Segment]:
    """Unsmoothed speech segments of a peer detector, one speaker per channel.

    ``samples``: float32 of shape (n,) or (n, channels) in [-1, 1]; ``system``: 'silero-vad' or 'librosa-split'.
    """
    samples = samples.reshape(len(samples), -1)
    out = []
    for c, speaker in enumerate(speakers):
        channel = np.ascontiguousarray(samples[:, c], dtype=np.float32)
        if system == "silero-vad":
            import torch
            from silero_vad import get_speech_timestamps

            stamps = get_speech_timestamps(torch.from_numpy(channel), _silero_model(), sampling_rate=rate_hz, return_seconds=False)
            out += [Segment(t["start"] / rate_hz, t["end"] / rate_hz, speaker) for t in stamps]
        elif system == "librosa-split":
            import librosa

            frame, hop = rate_hz // 20, rate_hz // 100
            runs = librosa.effects.split(channel, top_db=ENERGY_TOP_DB, frame_length=frame, hop_length=hop)
            out += [Segment(a / rate_hz, b / rate_hz, speaker) for a, b in runs]
        else:
            raise ValueError(f"unknown peer {system!r}")
    return sorted(out)


def _smoothed(segments: list[Segment], duration_s: float, config: AnalysisConfig) -> list[Segment]:
    """SPEC smoothing applied to any detector's segments, per speaker."""
    hop_s = config.vad.frame_ms / 1000
    n = int(np.ceil(duration_s / hop_s))
    out = []
    for party in PARTIES:
        mask = segments_to_frames([s for s in segments if s.speaker == party], n, hop_s)
        mask = smooth_frames(mask, hop_s, min_speech_s=config.vad.min_speech_s, min_silence_s=config.vad.min_silence_s)
        out += frames_to_segments(mask, hop_s, party)
    return sorted(out)


def _first_voice(info, segments: list[Segment], speakers: list[str], config: AnalysisConfig) -> list[Segment]:
    """The pipeline's drop of non-speech before each party's first voice (analyzer.vad.drop_leading_noise)."""
    from functools import partial

    from analyzer.pipeline import voiced_share
    from analyzer.vad import drop_leading_noise

    return drop_leading_noise(segments, partial(voiced_share, info, speakers), max_s=config.vad.leading_noise_max_s,
                              min_voiced_share=config.vad.min_voiced_share)


def detect_segments(system: str, path: Path, config: AnalysisConfig) -> list[Segment]:
    """Speech segments of both parties as found by ``system``."""
    if system == MONO:
        from analyzer.diarize import diarize

        info = probe(path.with_name(path.stem + "_mono.wav"))
        frames = extract_frames(info, config, prosody=False)
        speech = _first_voice(info, channel_segments(frames.vad, frames.energy_db, [UNKNOWN], config.vad), [UNKNOWN], config)
        return sorted(diarize(info, speech).segments)
    info = probe(path)
    if system == "call-analyzer":
        frames = extract_frames(info, config, prosody=False)
        return _first_voice(info, channel_segments(frames.vad, frames.energy_db, list(PARTIES), config.vad), list(PARTIES), config)
    if system.startswith("webrtcvad-"):
        raw = config.replace(vad={"webrtc_mode": int(system[-1]), "noise_check": "off"})  # raw webrtcvad: no check
        frames = extract_frames(info, raw, prosody=False)
        hop_s = raw.vad.frame_ms / 1000
        segments = [s for c, p in enumerate(PARTIES) for s in frames_to_segments(frames.vad[:, c], hop_s, p)]
        return _smoothed(segments, info.duration_s, config)
    if system == "call-ai-metrics":
        from call_ai_metrics import CallAnalyzer

        samples, rate = sf.read(path, dtype="float32")
        loaded = CallAnalyzer()._load(samples, rate, list(PARTIES))  # the package's own detector, segments only
        segments = [Segment(a, b, p) for p in PARTIES for a, b in loaded.timeline.intervals[p]]
        return _smoothed(segments, info.duration_s, config)
    if system in ("silero-vad", "librosa-split"):
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
        return _smoothed(raw_peer_segments(system, samples, rate, list(PARTIES)), info.duration_s, config)
    raise ValueError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")


@dataclass
class Tally:
    """Accumulated scores of one system over many calls."""

    truth_frames: dict = field(default_factory=lambda: {p: [] for p in PARTIES})
    detected_frames: dict = field(default_factory=lambda: {p: [] for p in PARTIES})
    matches: list = field(default_factory=list)
    turn_count_errors: list = field(default_factory=list)
    talk_ratio_errors: list = field(default_factory=list)
    event_counts: dict = field(default_factory=dict)  # kind -> [matched_true, n_true, matched_detected, n_detected]
    latency_errors: list = field(default_factory=list)

    def _count(self, kind: str, matched_true: int, n_true: int, matched_detected: int, n_detected: int) -> None:
        c = self.event_counts.setdefault(kind, [0, 0, 0, 0])
        for i, v in enumerate((matched_true, n_true, matched_detected, n_detected)):
            c[i] += v

    def add(self, truth: dict, segments: list[Segment], config: AnalysisConfig) -> None:
        duration = truth["duration_s"]
        n = int(np.ceil(duration / 0.01))
        true_segs = [Segment(s["start_s"], s["end_s"], s["speaker"]) for s in truth["segments"]]
        for party in PARTIES:
            self.truth_frames[party].append(segments_to_frames([s for s in true_segs if s.speaker == party], n, 0.01))
            self.detected_frames[party].append(segments_to_frames([s for s in segments if s.speaker == party], n, 0.01))
        conv = analyse_conversation(segments, config.turns)
        detected = transitions_from_turns(turn_rows(conv))
        true_changes = [Transition(t["time_s"], t["to"], t["from"], t["fto_s"]) for t in truth["transitions"]]
        self.matches.append(match_transitions(true_changes, detected))
        self.turn_count_errors.append(abs(len(conv.turns) - len(truth["turns"])) / max(len(truth["turns"]), 1))
        speech = {p: sum(s.duration_s for s in true_segs if s.speaker == p) for p in PARTIES}
        true_ratio = speech[AGENT] / (speech[AGENT] + speech[CUSTOMER])
        det = {p: sum(s.duration_s for s in segments if s.speaker == p) for p in PARTIES}
        det_ratio = det[AGENT] / (det[AGENT] + det[CUSTOMER]) if det[AGENT] + det[CUSTOMER] > 0 else 0.0
        self.talk_ratio_errors.append(abs(det_ratio - true_ratio))
        for kind, key in (("interruption", "interruptions"), ("backchannel", "backchannels")):
            found = [(e.speaker, e.start_s) for e in conv.events if e.kind == kind]
            n = match_onsets([(e["speaker"], e["start_s"]) for e in truth[key]], found, window_s=EVENT_ONSET_WINDOW_S)
            self._count(kind, n, len(truth[key]), n, len(found))
        true_air = [(e["start_s"], e["end_s"]) for e in truth["dead_air"]]
        found_air = [(e.start_s, e.end_s) for e in conv.events if e.kind == "dead_air"]
        self._count("dead_air", sum(any(_overlap(t, d) for d in found_air) for t in true_air), len(true_air),
                    sum(any(_overlap(d, t) for t in true_air) for d in found_air), len(found_air))
        detected_lat, true_lat = latencies(conv, AGENT), truth["summary"]["agent_latency_median_s"]
        if detected_lat and true_lat is not None:
            self.latency_errors.append(abs(float(np.median(detected_lat)) - true_lat))

    def summary(self) -> dict:
        f1 = {}
        for party in PARTIES:
            t = np.concatenate(self.truth_frames[party])
            d = np.concatenate(self.detected_frames[party])
            tp = np.sum(t & d)
            p, r = tp / max(d.sum(), 1), tp / max(t.sum(), 1)
            f1[party] = float(2 * p * r / (p + r)) if p + r else 0.0
        n_true = sum(m["n_true"] for m in self.matches)
        within = sum(m["within_100ms_share"] * m["n_true"] for m in self.matches)
        errors = [abs(e) for m in self.matches for e in m["fto_errors_s"]]
        return {
            "speech_f1_agent": f1[AGENT],
            "speech_f1_customer": f1[CUSTOMER],
            "speech_f1_min": min(f1.values()),
            "speaker_changes": n_true,
            "fto_within_100ms_share": within / n_true if n_true else 0.0,
            "missed_changes_share": sum(m["missed"] for m in self.matches) / n_true if n_true else 0.0,
            "fto_mean_abs_error_s": float(np.mean(errors)) if errors else None,
            "turn_count_error_mean": float(np.mean(self.turn_count_errors)),
            "turn_count_error_max": float(np.max(self.turn_count_errors)),
            "talk_ratio_error_mean": float(np.mean(self.talk_ratio_errors)),
            "talk_ratio_error_max": float(np.max(self.talk_ratio_errors)),
            **{
                f"{kind}_{name}": (hits / total if total else None)
                for kind, (matched_true, n_true, matched_det, n_det) in sorted(self.event_counts.items())
                for name, hits, total in (("precision", matched_det, n_det), ("recall", matched_true, n_true))
            },
            **{f"{kind}_true": c[1] for kind, c in sorted(self.event_counts.items())},
            "agent_latency_error_mean_s": float(np.mean(self.latency_errors)) if self.latency_errors else None,
        }


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return min(a[1], b[1]) > max(a[0], b[0])


def match_onsets(truth: list[tuple[str, float]], detected: list[tuple[str, float]], *, window_s: float) -> int:
    """Number of one-to-one pairs (speaker, onset_s) of truth and detection with the same speaker and onsets
    within ``window_s`` (greedy, nearest first)."""
    pairs = sorted(
        (abs(t[1] - d[1]), i, j) for i, t in enumerate(truth) for j, d in enumerate(detected)
        if t[0] == d[0] and abs(t[1] - d[1]) <= window_s
    )
    used_t, used_d = set(), set()
    for _, i, j in pairs:
        if i not in used_t and j not in used_d:
            used_t.add(i)
            used_d.add(j)
    return len(used_t)


def evaluate(
    n_calls: int, *, seed: int, systems=SYSTEMS, config: AnalysisConfig | None = None, workdir: Path | None = None,
    corpora: Path = CORPORA, **sim_overrides,
) -> dict:
    """Simulate ``n_calls`` calls and score every system on them. Returns {system: summary}."""
    config = config or AnalysisConfig().replace(emotion={"enabled": False}, prosody={"enabled": False})
    tallies = {s: Tally() for s in systems}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for i in range(n_calls):
            call = simulate_call(SimulationParams(seed=call_seed(seed, i), **sim_overrides), corpora_root=corpora)
            path = Path(tmp) / f"call{i:03d}.wav"
            subtype = "ULAW" if call.sample_rate_hz == 8000 else "PCM_16"
            sf.write(path, call.stereo, call.sample_rate_hz, subtype=subtype)
            if MONO in systems:
                sf.write(path.with_name(path.stem + "_mono.wav"), call.mono, call.sample_rate_hz, subtype=subtype)
            for system in systems:
                tallies[system].add(call.truth, detect_segments(system, path, config), config)
    return {s: t.summary() for s, t in tallies.items()}


def _pr(r: dict, kind: str) -> str:
    p, rec = r.get(f"{kind}_precision"), r.get(f"{kind}_recall")
    return " / ".join("-" if v is None else f"{v:.2f}" for v in (p, rec))


def markdown(results: dict) -> str:
    """Two tables: timing/speech figures, then event detection and latency, one row per system."""
    lines = [
        "| system | speech F1 agent | speech F1 customer | changes within 100 ms | missed changes | mean abs FTO error | turn count error | talk ratio error (mean / max) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        fto = f"{r['fto_mean_abs_error_s'] * 1000:.0f} ms" if r["fto_mean_abs_error_s"] is not None else "-"
        lines.append(
            f"| {name} | {r['speech_f1_agent']:.3f} | {r['speech_f1_customer']:.3f} | {r['fto_within_100ms_share']:.1%} | "
            f"{r['missed_changes_share']:.1%} | {fto} | {r['turn_count_error_mean']:.1%} | "
            f"{r['talk_ratio_error_mean']:.3f} / {r['talk_ratio_error_max']:.3f} |"
        )
    if any("interruption_recall" in r for r in results.values()):
        first = next(iter(results.values()))
        lines += [
            "",
            f"| system | interruptions P / R (n={first.get('interruption_true', 0)}) | backchannels P / R "
            f"(n={first.get('backchannel_true', 0)}) | dead air P / R (n={first.get('dead_air_true', 0)}) | "
            "mean abs agent latency error |",
            "|---|---|---|---|---|",
        ]
        for name, r in results.items():
            lat = r.get("agent_latency_error_mean_s")
            lines.append(
                f"| {name} | {_pr(r, 'interruption')} | {_pr(r, 'backchannel')} | {_pr(r, 'dead_air')} | "
                f"{'-' if lat is None else f'{lat * 1000:.0f} ms'} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--snr-db", type=float, default=20.0)
    parser.add_argument("--crosstalk-db", type=float, default=None, help="fixed leak level; default: drawn in -40..-25 dB")
    parser.add_argument("--truth", choices=["audible", "strict"], default="audible",
                        help="audible: clean speech >= 3 dB above the line noise in the carried band (default); "
                        "strict: all clean sound down to 35 dB below each clip's peak, audible or not")
    parser.add_argument("--condition", choices=["original", "hard-cases"], default="original",
                        help="original: the simulator's original recipe; hard-cases: callsim.simulate.HARD_CASES "
                        "(short answers, quick exchanges, similar voices)")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--json")
    args = parser.parse_args()
    systems = tuple(s for s in args.systems.split(",") if s)
    truth_threshold_db = None if args.truth == "audible" else 35.0
    extra = HARD_CASES if args.condition == "hard-cases" else {}
    results = evaluate(args.n, seed=args.seed, systems=systems, snr_db=args.snr_db, crosstalk_db=args.crosstalk_db,
                       truth_threshold_db=truth_threshold_db, **extra)
    leak = f"{args.crosstalk_db:g} dB" if args.crosstalk_db is not None else "-40..-25 dB"
    print(f"{args.n} simulated stereo calls, seed {args.seed}, 8 kHz mu-law, SNR {args.snr_db:g} dB, crosstalk {leak}, "
          f"{args.truth} truth, {args.condition} condition\n")
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
