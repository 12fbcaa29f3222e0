#!/usr/bin/env python3
"""Voice activity on the AMI meeting excerpts against their human RTTM annotations.

The excerpts are 30 s of real meetings on one mixed far-field channel (16 kHz),
several speakers: harder than a telephone channel, but real annotations.
Speech truth = union of all annotated speaker turns. Prints per-file and pooled
(all frames of all files) precision / recall / F1 for each detector.

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
from analyzer.evaluation import read_rttm, speech_f1  # noqa: E402
from analyzer.frames import extract_frames  # noqa: E402
from analyzer.intervals import Segment, UNKNOWN  # noqa: E402
from analyzer.vad import channel_segments  # noqa: E402

AMI = REPO.parent / "shared" / "corpora" / "calls" / "ami_meetings"
DETECTORS = {
    "call-analyzer (webrtc mode 2 + gates, default)": {"vad": {"backend": "webrtc", "webrtc_mode": 2}},
    "call-analyzer (webrtc mode 3 + gates)": {"vad": {"backend": "webrtc", "webrtc_mode": 3}},
    "call-analyzer (silero + gates)": {"vad": {"backend": "silero"}},
}


def evaluate(sections: dict, ami: Path = AMI) -> dict:
    """Per-file and pooled frame scores of one detector configuration on every AMI excerpt."""
    config = AnalysisConfig().replace(**sections)
    truth_by_file: dict[str, list[Segment]] = {}
    for rttm in sorted(ami.glob("*.rttm")):
        truth_by_file.update(read_rttm(rttm))
    per_file, offset = {}, 0.0
    pooled_truth, pooled_detected = [], []
    for audio in sorted(ami.glob("*.flac")):
        info = probe(audio)
        frames = extract_frames(info, config, prosody=False)
        detected = channel_segments(frames.vad, frames.energy_db, [UNKNOWN], config.vad)
        truth = truth_by_file.get(audio.stem, [])
        per_file[audio.stem] = speech_f1(truth, detected, info.duration_s)
        pooled_truth += [Segment(s.start_s + offset, s.end_s + offset) for s in truth]
        pooled_detected += [Segment(s.start_s + offset, s.end_s + offset) for s in detected]
        offset += info.duration_s
    return {"per_file": per_file, "pooled": speech_f1(pooled_truth, pooled_detected, offset), "files": len(per_file)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json")
    args = parser.parse_args()
    if not AMI.exists():
        print(f"AMI excerpts not found at {AMI}", file=sys.stderr)
        return 1
    results = {name: evaluate(sections) for name, sections in DETECTORS.items()}
    print("| detector | files | precision | recall | F1 (pooled frames) |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        p = r["pooled"]
        print(f"| {name} | {r['files']} | {p['precision']:.3f} | {p['recall']:.3f} | {p['f1']:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
