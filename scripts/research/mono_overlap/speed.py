#!/usr/bin/env python3
"""CPU time of the overlap detector (features + MLP + runs) per 10 minutes of a simulated mono call, one thread.

    OMP_NUM_THREADS=1 python scripts/research/mono_overlap/speed.py --model-dir /tmp/overlap-model [--minutes 10]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import soundfile as sf

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
import overlap as o  # noqa: E402
from analyzer.audio import probe  # noqa: E402
from analyzer.config import AnalysisConfig  # noqa: E402
from analyzer.diarize import diarize  # noqa: E402
from analyzer.frames import extract_frames  # noqa: E402
from analyzer.intervals import UNKNOWN  # noqa: E402
from analyzer.vad import channel_segments  # noqa: E402
from callsim.simulate import SimulationParams, simulate_call  # noqa: E402
from eval_pacing import CORPORA  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    call = simulate_call(SimulationParams(seed=77, target_duration_s=args.minutes * 60), corpora_root=CORPORA)
    config = AnalysisConfig()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.wav"
        sf.write(path, call.mono, call.sample_rate_hz, subtype="ULAW")
        info = probe(path)
        frames = extract_frames(info, config, prosody=False)
        speech = channel_segments(frames.vad, frames.energy_db, [UNKNOWN], config.vad)
        t = time.process_time()
        d = diarize(info, speech)
        t_diar = time.process_time() - t
        model = o.load_model(Path(args.model_dir))
        for _ in range(args.rounds):
            t = time.process_time()
            runs = o.detect_overlap(info, speech, list(d.segments), threshold=0.6, smooth_s=0.11, min_s=0.4, block_s=60.0,
                                    model=model, low_threshold=0.25)
            dt = time.process_time() - t
            print(f"{info.duration_s:.0f} s call: detector {dt:.2f} s CPU ({info.duration_s / dt:.0f}x real time; "
                  f"{dt * 600 / info.duration_s:.2f} s per 10 min), diarization {t_diar:.2f} s, {len(runs)} runs", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
