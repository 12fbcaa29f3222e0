#!/usr/bin/env python3
"""Cache simulated mono calls for the overlap-detector study (issue 14): per call the mono mix's VAD speech,
the diarizer's segments, the per-frame features of analyzer.overlap and the per-frame truth (both parties speaking).

    OMP_NUM_THREADS=1 python scripts/research/mono_overlap/build.py --seed 11 --n 20 --condition hard-cases --out /work/ovl_cache

Seeds: 11, 12 train; 5 validation (threshold); 1 report. Only training corpora (EmoDB, RAVDESS, nEMO).
"""
from __future__ import annotations

import argparse
import json
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

from analyzer.audio import probe  # noqa: E402
from analyzer.config import AnalysisConfig  # noqa: E402
from analyzer.diarize import diarize  # noqa: E402
from analyzer.frames import extract_frames  # noqa: E402
from analyzer.intervals import AGENT, CUSTOMER, UNKNOWN, Segment, segments_to_frames  # noqa: E402
from overlap import mono_blocks_8k, stream_features  # noqa: E402
from analyzer.vad import channel_segments  # noqa: E402
from callsim.simulate import HARD_CASES, SimulationParams, call_seed, simulate_call  # noqa: E402
from eval_pacing import CORPORA, _first_voice  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--condition", choices=["original", "hard-cases"], default="original")
    ap.add_argument("--out", default="/work/ovl_cache")
    ap.add_argument("--corpora", default="", help="comma list (e.g. emodb): simulate from these corpora only")
    args = ap.parse_args()
    extra = dict(HARD_CASES) if args.condition == "hard-cases" else {}
    prefix = args.condition
    if args.corpora:
        extra["corpora"] = tuple(args.corpora.split(","))
        prefix = f"{args.condition}-{'+'.join(extra['corpora'])}"
    config = AnalysisConfig().replace(emotion={"enabled": False}, prosody={"enabled": False})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(args.start, args.start + args.n):
        name = f"{prefix}_s{args.seed}_{i:03d}"
        if (out / f"{name}.npz").exists():
            continue
        t0 = time.process_time()
        call = simulate_call(SimulationParams(seed=call_seed(args.seed, i), truth_threshold_db=None, **extra), corpora_root=CORPORA)
        t1 = time.process_time()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "call_mono.wav"
            sf.write(path, call.mono, call.sample_rate_hz, subtype="ULAW")
            info = probe(path)
            frames = extract_frames(info, config, prosody=False)
            speech = _first_voice(info, channel_segments(frames.vad, frames.energy_db, [UNKNOWN], config.vad), [UNKNOWN], config)
            t2 = time.process_time()
            d = diarize(info, speech)
            t3 = time.process_time()
            n = int(np.ceil(info.duration_s / 0.01))
            mask = segments_to_frames(speech, n, 0.01)
            feats = stream_features(mono_blocks_8k(info, block_s=60.0), mask)
        t4 = time.process_time()
        truth = call.truth
        segs = [Segment(s["start_s"], s["end_s"], s["speaker"]) for s in truth["segments"]]
        ta = segments_to_frames([s for s in segs if s.speaker == AGENT], n, 0.01)
        tc = segments_to_frames([s for s in segs if s.speaker == CUSTOMER], n, 0.01)
        np.savez_compressed(out / f"{name}.npz", feats=feats.astype(np.float16), speech=mask, truth_a=ta, truth_c=tc)
        (out / f"{name}.json").write_text(json.dumps({
            "truth": truth, "speech": [s.to_dict() for s in speech],
            "diarized": [s.to_dict() for s in d.segments], "n_speakers": d.n_speakers_estimate,
            "cpu_s": {"simulate": t1 - t0, "vad": t2 - t1, "diarize": t3 - t2, "features": t4 - t3},
            "duration_s": info.duration_s}))
        print(name, f"{info.duration_s:.0f}s", {k: round(v, 2) for k, v in
              {"sim": t1 - t0, "vad": t2 - t1, "diar": t3 - t2, "feat": t4 - t3}.items()}, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
