#!/usr/bin/env python3
"""Speed and memory of the analysis on long stereo telephone calls.

Builds calls of the requested lengths by tiling the real sample call (8 kHz
stereo), written block by block (never held in memory), then analyses each
in a fresh single-threaded subprocess and reports wall time, real-time
factor (audio seconds per second of processing) and peak RSS.

    python scripts/bench_speed.py                       # 10 min and 120 min, pacing only
    python scripts/bench_speed.py --minutes 10 --emotion  # pacing + emotion
    python scripts/bench_speed.py --json bench.json
    python scripts/bench_speed.py --minutes 10 --emotion --baseline ../old-checkout --rounds 3  # paired A/B

Numbers go to stdout as a markdown table (and to --json).

:func:`speed_suite` (used by ``scripts/bench/run.py speed``) adds the batch path
(``analyze_files`` with an output folder, so writing is timed too), ``--jobs 2``
on two copies of each call, the peers' speed on the same audio (silero-vad,
webrtcvad alone) and paired A/B runs (alternating, medians and ratio).
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


BATCH_CHILD = r"""
import json, resource, sys, tempfile, time
import torch
torch.set_num_threads(1)
from analyzer import AnalysisConfig
from analyzer.batch import analyze_files
import analyzer.pipeline, analyzer.prosody, analyzer.outputs.writers, scipy.signal  # imports are not analysis time
paths, sections, jobs = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
config = AnalysisConfig().replace(**sections)
model_load_s = 0.0
if config.emotion.enabled and jobs == 1:  # analyze_files loads it once in this process: time it apart
    from analyzer.emotion import load_model
    t = time.perf_counter(); load_model(config.emotion.model); model_load_s = time.perf_counter() - t
stages = {}
def on_result(result):
    for k, v in result.timings_s.items():
        stages[k] = stages.get(k, 0.0) + v
    stages["_duration_s"] = stages.get("_duration_s", 0.0) + round(result.duration_s, 3)
with tempfile.TemporaryDirectory() as out:
    start, cpu0 = time.perf_counter(), time.process_time()
    summary = analyze_files(paths, config, out_dir=out, jobs=jobs, resume=False, progress=False, on_result=on_result)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
assert not summary.errors, summary.errors
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
me = resource.getrusage(resource.RUSAGE_SELF)
duration = stages.pop("_duration_s")
print(json.dumps({"wall_s": wall, "cpu_s": cpu + kids.ru_utime + kids.ru_stime, "duration_s": duration,
                  "peak_rss_mb": max(me.ru_maxrss, kids.ru_maxrss) / 1024, "stages_s": stages,
                  "model_load_s": model_load_s}))
"""

PEER_CHILD = r"""
import json, resource, sys, time
import numpy as np, soundfile as sf
import torch
torch.set_num_threads(1)
path, sequence = sys.argv[1], json.loads(sys.argv[2])
samples, rate = sf.read(path, dtype="float32", always_2d=True)  # decoding is timed apart
channels = [np.ascontiguousarray(samples[:, c]) for c in range(samples.shape[1])]
pcm = [(np.clip(x, -1, 1) * 32767).astype("<i2").tobytes() for x in channels]
from silero_vad import get_speech_timestamps, load_silero_vad
import webrtcvad
from analyzer import AnalysisConfig, analyze_file
model = load_silero_vad(onnx=False)
pacing = AnalysisConfig().replace(emotion={"enabled": False}, prosody={"enabled": False})
def silero():
    for x in channels:
        get_speech_timestamps(torch.from_numpy(x), model, sampling_rate=rate)
def webrtc():
    step = 2 * rate * 30 // 1000
    for channel in pcm:
        vad = webrtcvad.Vad(2)
        [vad.is_speech(channel[i:i + step], rate) for i in range(0, len(channel) - step + 1, step)]
systems = {"silero-vad": silero, "webrtcvad": webrtc, "call-analyzer-pacing": lambda: analyze_file(path, pacing)}
out = []
for name in sequence:
    start, cpu0 = time.perf_counter(), time.process_time()
    systems[name]()
    out.append({"system": name, "wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu0,
                "duration_s": len(samples) / rate})
print(json.dumps(out))
"""

STAGES = ("probe", "decode_vad_prosody", "vad_segments", "diarization", "turns_metrics", "prosody_metrics", "emotion")


def _child(code: str, *args: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f"benchmark child {args} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_batch(paths: list[Path], sections: dict, *, jobs: int) -> dict:
    """``analyze_files`` of ``paths`` with an output folder in a fresh process: wall and CPU time (workers included),
    peak RSS (the largest process), summed stage times, and ``writing_s`` = what the stages do not explain
    (writing JSON/CSV/HTML plus batch overhead; meaningful with jobs=1 only)."""
    r = _child(BATCH_CHILD, json.dumps([str(p) for p in paths]), json.dumps(sections), str(jobs))
    if jobs == 1:
        r["stages_s"]["writing"] = max(r["wall_s"] - sum(r["stages_s"].values()) - r["model_load_s"], 0.0)
    return r


def run_sequence(path: Path, sequence: list[str]) -> list[dict]:
    """Time each system of ``sequence`` in turn ('silero-vad', 'webrtcvad' (mode 2, 30 ms frames, raw) or
    'call-analyzer-pacing' (whole pacing analysis incl. decoding)) on both channels of ``path``, in one fresh
    single-threaded process with imports and models loaded beforehand; peers get the decoded samples."""
    return _child(PEER_CHILD, str(path), json.dumps(sequence))


def paired_ab(runs: list[dict], a: str, b: str) -> dict:
    """Medians and the ratio b/a of alternating runs a, b, a, b, ... (from :func:`run_sequence`: machine noise
    hits both alike)."""
    import statistics

    by = {a: [r for r in runs if r["system"] == a], b: [r for r in runs if r["system"] == b]}
    med = {name: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "cpu_s")} for name, rs in by.items()}
    return {"a": a, "b": b, "pairs": len(by[a]), "median": med, "runs": by,
            "ratio_wall_b_over_a": med[b]["wall_s"] / med[a]["wall_s"],
            "ratio_cpu_b_over_a": med[b]["cpu_s"] / med[a]["cpu_s"]}


def speed_suite(minutes: list[float], *, workdir: Path, peer_minutes: list[float], pairs: int, ab_minutes: float,
                ab_peers: tuple[str, ...] = ("silero-vad", "webrtcvad"), mono_minutes: tuple[float, ...] = ()) -> dict:
    """Every speed figure of the benchmark suite (see the module docstring). Pure measurement, no printing."""
    full = {"emotion": {"enabled": True}}
    rows, peers = [], []
    for m in minutes:
        path = make_long_call(m, workdir)
        twin = workdir / f"long_{m:g}min_copy.flac"
        if not twin.exists():
            os.link(path, twin)
        one = run_batch([path], full, jobs=1)
        two = run_batch([path, twin], full, jobs=2)
        rows.append({"minutes": m, "jobs1": one, "jobs2": two})
    mono = [{"minutes": m, "jobs1": run_batch([make_long_call(m, workdir, mono=True)], full, jobs=1)} for m in mono_minutes]
    first = ["call-analyzer-pacing", "webrtcvad", "silero-vad"]
    ab_sequence = [name for peer in ab_peers for _ in range(pairs) for name in ("call-analyzer-pacing", peer)]
    ab_runs = None
    for m in peer_minutes:  # one process per length; the A/B runs follow the peers' runs on the A/B length
        path = make_long_call(m, workdir)
        runs = run_sequence(path, first + (ab_sequence if m == ab_minutes else []))
        peers.append({"minutes": m, **{r["system"]: r for r in runs[: len(first)]}})
        if m == ab_minutes:
            ab_runs = runs[len(first):]
    if ab_runs is None:
        ab_runs = run_sequence(make_long_call(ab_minutes, workdir), ab_sequence)
    ab = [paired_ab(ab_runs[2 * pairs * k : 2 * pairs * (k + 1)], "call-analyzer-pacing", peer) for k, peer in enumerate(ab_peers)]
    return {"rows": rows, "mono_rows": mono, "peers": peers, "ab": ab, "ab_minutes": ab_minutes}


def _x(duration_s: float, seconds: float) -> str:
    return f"{duration_s / seconds:,.0f}x" if seconds > 0 else "-"


def speed_markdown(suite: dict) -> str:
    """Tables of :func:`speed_suite`: stages, whole pipeline (1 and 2 jobs) with RSS, peers, paired A/B."""
    single = [(f"{r['minutes']:g} min", r) for r in suite["rows"]]
    single += [(f"{r['minutes']:g} min mono", r) for r in suite.get("mono_rows", [])]
    seen = {k for _, r in single for k in r["jobs1"]["stages_s"]}
    stages = [k for k in (*STAGES, "writing") if k in seen] + sorted(seen - {*STAGES, "writing"})
    lines = ["Real-time factor (audio seconds per second of wall time) of each stage, one thread, default pipeline "
             "(webrtc VAD, prosody, emotion; diarization on mono calls only; '-': the stage does not run).", "",
             "| call | " + " | ".join(stages) + " | whole (wall / CPU) | peak RSS |", "|---|" + "---|" * (len(stages) + 2)]
    for label, r in single:
        f = r["jobs1"]
        st, d = f["stages_s"], f["duration_s"]
        lines.append(f"| {label} | " + " | ".join(_x(d, st[k]) if k in st else "-" for k in stages)
                     + f" | {_x(d, f['wall_s'])} / {_x(d, f['cpu_s'])} | {f['peak_rss_mb']:.0f} MB |")
    lines += ["", "Whole pipeline (`analyze_files` with an output folder): one call with `--jobs 1`, two copies with "
              "`--jobs 2` (audio of both copies counted).", "",
              "| call length | jobs | wall | CPU | x real time (wall) | x real time (CPU) | peak RSS |",
              "|---|---|---|---|---|---|---|"]
    for r in suite["rows"]:
        for jobs in ("jobs1", "jobs2"):
            f = r[jobs]
            lines.append(f"| {r['minutes']:g} min | {jobs[-1]} | {f['wall_s']:.1f} s | {f['cpu_s']:.1f} s | "
                         f"{_x(f['duration_s'], f['wall_s'])} | {_x(f['duration_s'], f['cpu_s'])} | {f['peak_rss_mb']:.0f} MB |")
    lines += ["", "Speech detection alone on the same audio (both channels, one thread, models loaded beforehand; peers "
              "exclude decoding, `call-analyzer-pacing` is the whole pacing analysis including decoding).", "",
              "| call length | system | wall | CPU | x real time (wall) | x real time (CPU) |", "|---|---|---|---|---|---|"]
    for p in suite["peers"]:
        for name in ("call-analyzer-pacing", "webrtcvad", "silero-vad"):
            f = p[name]
            lines.append(f"| {p['minutes']:g} min | {name} | {f['wall_s']:.2f} s | {f['cpu_s']:.2f} s | "
                         f"{_x(f['duration_s'], f['wall_s'])} | {_x(f['duration_s'], f['cpu_s'])} |")
    lines += ["", f"Paired A/B on the {suite['ab_minutes']:g}-minute call (alternating runs in one process, medians):", "",
              "| A | B | pairs | A wall / CPU | B wall / CPU | B/A (wall) | B/A (CPU) |", "|---|---|---|---|---|---|---|"]
    for ab in suite["ab"]:
        ma, mb = ab["median"][ab["a"]], ab["median"][ab["b"]]
        lines.append(f"| {ab['a']} | {ab['b']} | {ab['pairs']} | {ma['wall_s']:.2f} s / {ma['cpu_s']:.2f} s | "
                     f"{mb['wall_s']:.2f} s / {mb['cpu_s']:.2f} s | {ab['ratio_wall_b_over_a']:.2f} | {ab['ratio_cpu_b_over_a']:.2f} |")
    return "\n".join(lines)


def make_long_call(minutes: float, folder: Path, *, mono: bool = False) -> Path:
    """A stereo (or, with ``mono``, the two channels mixed) 8 kHz FLAC of ``minutes`` made by repeating the sample
    call, written in blocks."""
    path = folder / f"long_{minutes:g}min{'_mono' if mono else ''}.flac"
    if path.exists():
        return path
    source, rate = sf.read(SAMPLE, dtype="int16")
    if mono:
        source = (source.astype("int32").sum(axis=1) // 2).astype("int16")
    needed = int(minutes * 60 * rate)
    with sf.SoundFile(path, "w", rate, 1 if mono else 2, format="FLAC", subtype="PCM_16") as out:
        written = 0
        while written < needed:
            block = source[: needed - written]
            out.write(block)
            written += len(block)
    return path


def run(path: Path, sections: dict, *, checkout: Path = REPO) -> dict:
    """``analyze_file`` of ``path`` in a fresh single-threaded process importing the ``analyzer`` of ``checkout``."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               PYTHONPATH=str(checkout))
    out = subprocess.run(  # cwd = the checkout: `python -c` puts the working folder first on sys.path
        [sys.executable, "-c", CHILD, str(path), json.dumps(sections)], capture_output=True, text=True, env=env, cwd=checkout
    )
    if out.returncode != 0:
        raise SystemExit(f"analysis of {path} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def paired_rounds(path: Path, sections: dict, baseline: Path, rounds: int) -> dict:
    """This checkout and ``baseline`` alternating (ours first in even rounds, the baseline first in odd ones), one
    fresh process each: CPU seconds per round and the per-round ratio ours / baseline (machine load hits both alike)."""
    import statistics

    ours, theirs = [], []
    for r in range(rounds):
        order = [(REPO, ours), (baseline, theirs)] if r % 2 == 0 else [(baseline, theirs), (REPO, ours)]
        for checkout, into in order:
            into.append(run(path, sections, checkout=checkout))
        print(f"round {r + 1}/{rounds}: ours {ours[-1]['cpu_s']:.2f} s CPU, baseline {theirs[-1]['cpu_s']:.2f} s", file=sys.stderr)
    ratios = [a["cpu_s"] / b["cpu_s"] for a, b in zip(ours, theirs)]
    return {"ours": ours, "baseline": theirs, "ratio_cpu_median": statistics.median(ratios), "ratio_cpu_min": min(ratios),
            "ratio_cpu_max": max(ratios), "ours_cpu_median": statistics.median(x["cpu_s"] for x in ours),
            "baseline_cpu_median": statistics.median(x["cpu_s"] for x in theirs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 120])
    parser.add_argument("--emotion", action="store_true", help="include per-turn emotion scoring")
    parser.add_argument("--no-prosody", action="store_true", help="pacing only: skip pitch/intensity/syllables")
    parser.add_argument("--vad", default="webrtc", choices=["webrtc", "silero"])
    parser.add_argument("--mono", action="store_true", help="the two channels mixed: one mono call (diarization runs)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    parser.add_argument("--baseline", help="another call-analyzer checkout: paired A/B rounds, alternating, ratio of CPU per round")
    parser.add_argument("--rounds", type=int, default=3, help="with --baseline: rounds (default 3)")
    args = parser.parse_args()
    sections = {"emotion": {"enabled": args.emotion}, "vad": {"backend": args.vad}, "prosody": {"enabled": not args.no_prosody}}
    if args.baseline:
        return _main_paired(args, sections)
    rows = []
    for minutes in args.minutes:
        path = make_long_call(minutes, Path(args.workdir), mono=args.mono)
        figures = run(path, sections)
        figures.update(minutes=minutes, realtime_factor=figures["duration_s"] / figures["wall_s"],
                       cpu_realtime_factor=figures["duration_s"] / figures["cpu_s"])
        rows.append(figures)
        print(f"{minutes:g} min: {figures['wall_s']:.1f} s wall, {figures['cpu_s']:.1f} s CPU, "
              f"{figures['realtime_factor']:.0f}x real time (wall), {figures['cpu_realtime_factor']:.0f}x (CPU), "
              f"peak RSS {figures['peak_rss_mb']:.0f} MB, stages {figures['stages_s']}", file=sys.stderr)
    mode = ("timing only" if args.no_prosody else "timing + prosody") + (" + emotion" if args.emotion else "") + f", VAD {args.vad}"
    mode += ", mono (diarization)" if args.mono else ", stereo"
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


def _main_paired(args, sections: dict) -> int:
    baseline = Path(args.baseline).resolve()
    print("| call | ours CPU (median) | baseline CPU (median) | ours x real time (CPU) | baseline x real time (CPU) | "
          f"ours / baseline CPU (median, range over {args.rounds} rounds) | peak RSS ours / baseline |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for minutes in args.minutes:
        path = make_long_call(minutes, Path(args.workdir), mono=args.mono)
        ab = paired_rounds(path, sections, baseline, args.rounds)
        d = ab["ours"][0]["duration_s"]
        rss = (max(x["peak_rss_mb"] for x in ab["ours"]), max(x["peak_rss_mb"] for x in ab["baseline"]))
        print(f"| {minutes:g} min{' mono' if args.mono else ''} | {ab['ours_cpu_median']:.2f} s | {ab['baseline_cpu_median']:.2f} s | "
              f"{d / ab['ours_cpu_median']:.0f}x | {d / ab['baseline_cpu_median']:.0f}x | {ab['ratio_cpu_median']:.3f} "
              f"({ab['ratio_cpu_min']:.3f}-{ab['ratio_cpu_max']:.3f}) | {rss[0]:.0f} / {rss[1]:.0f} MB |")
        rows.append({"minutes": minutes, **ab})
    if args.json:
        Path(args.json).write_text(json.dumps({"sections": sections, "baseline": str(baseline), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
