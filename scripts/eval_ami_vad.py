#!/usr/bin/env python3
"""Voice activity on the AMI meeting excerpts against their human RTTM annotations.

The excerpts are 30 s of real meetings on one mixed far-field channel (16 kHz),
several speakers: harder than a telephone channel, but real annotations.
Speech truth = union of all annotated speaker turns. Prints pooled (all frames of all
files) precision / recall / F1 for each detector, F1 pooled over the tuning split (train +
development: the noise check's defaults were chosen there) and over the test split, and CPU time.

Peers (raw detectors, no gates or hysteresis; the same SPEC smoothing as ours):
raw webrtcvad modes 2 and 3, raw silero-vad (``get_speech_timestamps``), and a
plain energy threshold (``librosa.effects.split``).

    python scripts/eval_ami_vad.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analyzer.audio import probe  # noqa: E402
from analyzer.config import AnalysisConfig  # noqa: E402
from callsim.evaluation import read_rttm, speech_f1  # noqa: E402
from analyzer.frames import extract_frames  # noqa: E402
from analyzer.intervals import Segment, UNKNOWN, frames_to_segments, segments_to_frames, smooth_frames  # noqa: E402
from analyzer.vad import channel_segments  # noqa: E402

AMI = REPO.parent / "shared" / "corpora" / "calls" / "ami_meetings"
DETECTORS = {
    "call-analyzer (default: webrtc mode 2 + gates + noise check)": {},
    "call-analyzer (webrtc mode 2 + gates, no noise check: before)": {"vad": {"noise_check": "off"}},
    "call-analyzer (webrtc mode 3 + gates, no noise check)": {"vad": {"webrtc_mode": 3, "noise_check": "off"}},
    "call-analyzer (webrtc + gates, energy floor 30 dB, no noise check)": {"vad": {"energy_floor_db": 30.0,
                                                                                  "noise_check": "off"}},
    "call-analyzer (noise check on every channel)": {"vad": {"noise_check": "always"}},
    "call-analyzer (silero + gates, --vad silero)": {"vad": {"backend": "silero"}},
}
PEERS = ("webrtcvad-2", "webrtcvad-3", "silero-vad", "librosa-split")


def peer_segments(system: str, path: Path, config: AnalysisConfig) -> list[Segment]:
    """Speech of one AMI file by a raw peer detector, smoothed like ours (min speech / min silence)."""
    import soundfile as sf

    from eval_pacing import raw_peer_segments

    info = probe(path)
    hop_s = config.vad.frame_ms / 1000
    if system.startswith("webrtcvad-"):
        frames = extract_frames(info, config.replace(vad={"webrtc_mode": int(system[-1]), "noise_check": "off"}), prosody=False)
        raw = frames_to_segments(frames.vad[:, 0], hop_s, UNKNOWN)
    else:
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
        raw = raw_peer_segments(system, samples.mean(axis=1), rate, [UNKNOWN])
    n = int(info.duration_s / hop_s + 0.999)
    mask = smooth_frames(segments_to_frames(raw, n, hop_s), hop_s, min_speech_s=config.vad.min_speech_s,
                         min_silence_s=config.vad.min_silence_s)
    return frames_to_segments(mask, hop_s, UNKNOWN)


def evaluate(sections: dict, ami: Path = AMI, *, peer: str | None = None, limit: int | None = None) -> dict:
    """Per-file and pooled frame scores of one detector on every AMI excerpt (the first ``limit`` files).

    ``sections``: our analyzer's config overrides; with ``peer`` (one of PEERS) that raw detector is scored instead.
    """
    import time

    started = time.process_time()
    config = AnalysisConfig().replace(**sections)
    truth_by_file: dict[str, list[Segment]] = {}
    for rttm in sorted(ami.glob("*.rttm")):
        truth_by_file.update(read_rttm(rttm))
    per_file, offset, durations, detected_by_file, noise_checks = {}, 0.0, {}, {}, {}
    pooled_truth, pooled_detected = [], []
    for audio in sorted(ami.glob("*.flac"))[:limit]:
        info = probe(audio)
        if peer is None:
            frames = extract_frames(info, config, prosody=False)
            detected = channel_segments(frames.vad, frames.energy_db, [UNKNOWN], config.vad)
            noise_checks[audio.stem] = frames.noise_check[0] if frames.noise_check else None
        else:
            detected = peer_segments(peer, audio, config)
        truth = truth_by_file.get(audio.stem, [])
        per_file[audio.stem] = speech_f1(truth, detected, info.duration_s)
        durations[audio.stem], detected_by_file[audio.stem] = info.duration_s, detected
        pooled_truth += [Segment(s.start_s + offset, s.end_s + offset) for s in truth]
        pooled_detected += [Segment(s.start_s + offset, s.end_s + offset) for s in detected]
        offset += info.duration_s
    splits = {}
    for name, stems in ami_splits(ami).items():
        truth_s, detected_s, split_offset = [], [], 0.0
        for stem in stems:
            if stem not in durations:
                continue
            truth_s += [Segment(s.start_s + split_offset, s.end_s + split_offset) for s in truth_by_file.get(stem, [])]
            detected_s += [Segment(s.start_s + split_offset, s.end_s + split_offset) for s in detected_by_file[stem]]
            split_offset += durations[stem]
        if split_offset:
            splits[name] = speech_f1(truth_s, detected_s, split_offset)
    return {"per_file": per_file, "pooled": speech_f1(pooled_truth, pooled_detected, offset), "files": len(per_file),
            "splits": splits, "noise_check": noise_checks, "cpu_s": round(time.process_time() - started, 2)}


def ami_splits(ami: Path = AMI) -> dict[str, list[str]]:
    """The excerpts of each split: ``tune`` (train + development: what defaults may be chosen on) and ``test``."""
    def listed(name: str) -> list[str]:
        path = ami / f"debug.{name}.lst"
        return path.read_text().split() if path.exists() else []

    return {"tune": listed("train") + listed("development"), "test": listed("test")}


def markdown(results: dict) -> str:
    """One table: pooled precision / recall / F1, F1 on the tuning split (train + development) and on the test
    split, CPU seconds for all 14 excerpts (7 minutes of audio; models loaded once per process)."""
    lines = ["| detector | files | precision | recall | F1 pooled | F1 train+dev (10) | F1 test (2) | CPU |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        p, sp = r["pooled"], r.get("splits", {})
        split = " | ".join(f"{sp[k]['f1']:.3f}" if k in sp else "-" for k in ("tune", "test"))
        lines.append(f"| {name} | {r['files']} | {p['precision']:.3f} | {p['recall']:.3f} | {p['f1']:.3f} | {split} | "
                     f"{r.get('cpu_s', 0):.1f} s |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json")
    args = parser.parse_args()
    if not AMI.exists():
        print(f"AMI excerpts not found at {AMI}", file=sys.stderr)
        return 1
    results = {name: evaluate(sections) for name, sections in DETECTORS.items()}
    results.update({f"{peer} (raw)": evaluate({}, peer=peer) for peer in PEERS})
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
