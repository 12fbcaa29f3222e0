#!/usr/bin/env python3
"""Speed and memory of the analysis on long stereo telephone calls.

Builds calls of the requested lengths by tiling the real sample call (8 kHz
stereo), written block by block (never held in memory), then analyses each
in a fresh single-threaded subprocess and reports wall time, real-time
factor (audio seconds per second of processing) and peak RSS.

    python scripts/bench_speed.py                       # 10 min and 120 min, pacing only
    python scripts/bench_speed.py --minutes 10 --emotion  # pacing + emotion
    python scripts/bench_speed.py --json bench.json

Numbers go to stdout as a markdown table (and to --json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "tests" / "data" / "sample_call.flac"

CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(1)
from analyzer import AnalysisConfig, analyze_file
config = AnalysisConfig().replace(**json.loads(sys.argv[2]))
import analyzer.pipeline, analyzer.prosody, scipy.signal  # imports are not analysis time
start, cpu0 = time.perf_counter(), time.process_time()
result = analyze_file(sys.argv[1], config)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
peak_mb = usage.ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "cpu_s": time.process_time() - cpu0, "peak_rss_mb": peak_mb, "duration_s": result.duration_s,
                  "turns": len(result.turns), "stages_s": result.timings_s}))
"""


def make_long_call(minutes: float, folder: Path) -> Path:
    """A stereo 8 kHz FLAC of ``minutes`` made by repeating the sample call, written in blocks."""
    path = folder / f"long_{minutes:g}min.flac"
    if path.exists():
        return path
    source, rate = sf.read(SAMPLE, dtype="int16")
    needed = int(minutes * 60 * rate)
    with sf.SoundFile(path, "w", rate, 2, format="FLAC", subtype="PCM_16") as out:
        written = 0
        while written < needed:
            block = source[: needed - written]
            out.write(block)
            written += len(block)
    return path


def run(path: Path, sections: dict) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), json.dumps(sections)], capture_output=True, text=True, env=env
    )
    if out.returncode != 0:
        raise SystemExit(f"analysis of {path} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 120])
    parser.add_argument("--emotion", action="store_true", help="include per-turn emotion scoring")
    parser.add_argument("--no-prosody", action="store_true", help="pacing only: skip pitch/intensity/syllables")
    parser.add_argument("--vad", default="webrtc", choices=["webrtc", "silero"])
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    args = parser.parse_args()
    sections = {"emotion": {"enabled": args.emotion}, "vad": {"backend": args.vad}, "prosody": {"enabled": not args.no_prosody}}
    rows = []
    for minutes in args.minutes:
        path = make_long_call(minutes, Path(args.workdir))
        figures = run(path, sections)
        figures.update(minutes=minutes, realtime_factor=figures["duration_s"] / figures["wall_s"],
                       cpu_realtime_factor=figures["duration_s"] / figures["cpu_s"])
        rows.append(figures)
        print(f"{minutes:g} min: {figures['wall_s']:.1f} s wall, {figures['cpu_s']:.1f} s CPU, "
              f"{figures['realtime_factor']:.0f}x real time (wall), {figures['cpu_realtime_factor']:.0f}x (CPU), "
              f"peak RSS {figures['peak_rss_mb']:.0f} MB, stages {figures['stages_s']}", file=sys.stderr)
    mode = ("timing only" if args.no_prosody else "timing + prosody") + (" + emotion" if args.emotion else "") + f", VAD {args.vad}"
    print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"one thread; {mode}\n")
    print("| call length | wall time | CPU time | x real time (wall) | x real time (CPU) | peak RSS |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['minutes']:g} min | {r['wall_s']:.1f} s | {r['cpu_s']:.1f} s | {r['realtime_factor']:.0f}x | "
              f"{r['cpu_realtime_factor']:.0f}x | {r['peak_rss_mb']:.0f} MB |")
    if args.json:
        Path(args.json).write_text(json.dumps({"mode": mode, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
