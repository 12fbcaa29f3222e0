#!/usr/bin/env python3
"""Candidate pitch trackers against Praat on EmoDB and nEMO clips, clean 16 kHz and 8 kHz telephone.

Reference: Praat's autocorrelation pitch (``To Pitch (ac)``, 75-500 Hz, 10 ms step) on the clean
16 kHz clip. Every candidate runs on the clean clip ("16k") and on its telephone version ("8k-phone":
300-3400 Hz band, 8 kHz, mu-law, as ``analyzer.emotion.train.augment.simulate_phone``), its track is
put on the same 10 ms frame centres, and per candidate the script prints: the median absolute
difference in semitones on frames both call voiced, the share of those frames off by > 1 st and by
> 20% (3.86 st, gross errors), voicing agreement over all frames, the share of Praat's voiced
frames the candidate also calls voiced, and speed (audio seconds per CPU second, one channel).

    OMP_NUM_THREADS=1 python scripts/compare_pitch_trackers.py --per-corpus 60
    OMP_NUM_THREADS=1 python scripts/compare_pitch_trackers.py --only praat   # Praat variants only

pyworld (DIO, Harvest, StoneMask) and pysptk (RAPT, SWIPE) are optional: ``pip install pyworld pysptk``;
missing ones are skipped. pyworld 0.3.5 imports ``pkg_resources``, which setuptools >= 81 no longer
has: a stand-in is installed for that import only.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer import prosody  # noqa: E402
from analyzer.emotion.train.augment import simulate_phone  # noqa: E402

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
HOP_S = 0.01
FLOOR_HZ, CEILING_HZ = 75.0, 500.0


def on_grid(times_s: np.ndarray, values_hz: np.ndarray, n_frames: int) -> np.ndarray:
    """A track (0 = unvoiced) sampled at the frame centres as the pipeline does (NaN = unvoiced)."""
    return prosody._sample_track(np.asarray(times_s, float), np.asarray(values_hz, float),
                                 (np.arange(n_frames) + 0.5) * HOP_S)


def praat(rate_hz: int | None, step_s: float):
    def track(x, sr, n):
        return prosody.pitch_hz(x, sr, hop_s=HOP_S, pitch_floor_hz=FLOOR_HZ, pitch_ceiling_hz=CEILING_HZ,
                                pitch_rate_hz=rate_hz or sr, pitch_step_s=step_s)
    return track


def candidates(only: str | None) -> dict:
    found = {
        "Praat 2 kHz, 20 ms step (shipped)": praat(2000, 0.02),
        "Praat 2 kHz, 10 ms step": praat(2000, 0.01),
        "Praat 2 kHz, 30 ms step": praat(2000, 0.03),
        "Praat 2 kHz, 40 ms step": praat(2000, 0.04),
        "Praat 4 kHz, 20 ms step": praat(4000, 0.02),
    }
    try:
        if "pkg_resources" not in sys.modules:
            stand_in = types.ModuleType("pkg_resources")
            stand_in.get_distribution = lambda name: types.SimpleNamespace(version="0")
            sys.modules["pkg_resources"] = stand_in
        import pyworld

        def dio(speed: int, refine: bool):
            def track(x, sr, n):
                f0, t = pyworld.dio(x, sr, f0_floor=FLOOR_HZ, f0_ceil=CEILING_HZ, frame_period=HOP_S * 1000, speed=speed)
                return on_grid(t, pyworld.stonemask(x, f0, t, sr) if refine else f0, n)
            return track

        found.update({"pyworld DIO + StoneMask": dio(1, True), "pyworld DIO + StoneMask, speed 4": dio(4, True),
                      "pyworld DIO, speed 2 (no StoneMask)": dio(2, False)})

        def harvest(x, sr, n):
            f0, t = pyworld.harvest(x, sr, f0_floor=FLOOR_HZ, f0_ceil=CEILING_HZ, frame_period=HOP_S * 1000)
            return on_grid(t, f0, n)

        found["pyworld Harvest"] = harvest
    except ImportError:
        print("pyworld not installed: DIO/Harvest skipped", file=sys.stderr)
    try:
        import pysptk

        def sptk(method):
            def track(x, sr, n):
                hop = int(HOP_S * sr)
                if method == "rapt":
                    f0 = pysptk.rapt((x * 32767).astype(np.float64), sr, hop, min=FLOOR_HZ, max=CEILING_HZ)
                else:
                    f0 = pysptk.swipe(x.astype(np.float64), sr, hop, min=FLOOR_HZ, max=CEILING_HZ, threshold=0.3)
                return on_grid(np.arange(len(f0)) * HOP_S, f0, n)
            return track

        found.update({"pysptk RAPT": sptk("rapt"), "pysptk SWIPE'": sptk("swipe")})
    except ImportError:
        print("pysptk not installed: RAPT/SWIPE skipped", file=sys.stderr)
    if only:
        found = {k: v for k, v in found.items() if any(word.lower() in k.lower() for word in only.split(","))}
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-corpus", type=int, default=60, help="random clips per corpus (seed 0)")
    parser.add_argument("--corpora", type=Path, default=CORPORA)
    parser.add_argument("--only", help="comma-separated words: keep candidates whose name contains one")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    files = []
    for corpus in ("emodb", "nemo"):
        paths = sorted((args.corpora / corpus).glob("*.flac"))
        files += [paths[i] for i in rng.choice(len(paths), min(args.per_corpus, len(paths)), replace=False)]
    trackers = candidates(args.only)
    print(f"{len(files)} clips ({args.per_corpus} per corpus: EmoDB, nEMO); reference Praat ac, 10 ms, clean 16 kHz")
    print("| channel | tracker | median abs diff (st) | > 1 st | > 20% (gross) | voicing agreement | "
          "Praat-voiced also voiced | x real time (CPU) |")
    print("|---|---|---|---|---|---|---|---|")
    for channel in ("16k", "8k-phone"):
        tally = {name: {"diff": [], "agree": [], "ref_voiced": 0, "both": 0, "cpu_s": 0.0, "audio_s": 0.0} for name in trackers}
        for path in files:
            x, sr = sf.read(path, dtype="float32")
            x = x.mean(axis=1) if x.ndim > 1 else x
            reference = praat(None, HOP_S)(x.astype(np.float64), sr, len(x) // int(HOP_S * sr))
            y, rate = (simulate_phone(x, sr), 8000) if channel == "8k-phone" else (x, sr)
            y = y.astype(np.float64)
            n = min(len(reference), len(y) // int(HOP_S * rate))
            ref = reference[:n]
            ref_voiced = np.isfinite(ref)
            for name, track in trackers.items():
                start = time.process_time()
                estimate = track(y, rate, n)[:n]
                t = tally[name]
                t["cpu_s"] += time.process_time() - start
                t["audio_s"] += len(y) / rate
                voiced = np.isfinite(estimate) & (estimate > 0)
                both = ref_voiced & voiced
                t["diff"].append(12 * np.abs(np.log2(estimate[both] / ref[both])))
                t["agree"].append(np.mean(ref_voiced == voiced))
                t["ref_voiced"] += int(ref_voiced.sum())
                t["both"] += int(both.sum())
        for name, t in tally.items():
            diff = np.concatenate(t["diff"])
            print(f"| {channel} | {name} | {np.median(diff):.2f} | {np.mean(diff > 1) * 100:.1f}% | "
                  f"{np.mean(diff > 12 * np.log2(1.2)) * 100:.1f}% | {np.mean(t['agree']) * 100:.1f}% | "
                  f"{t['both'] / max(t['ref_voiced'], 1) * 100:.1f}% | {t['audio_s'] / max(t['cpu_s'], 1e-9):,.0f}x |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
