#!/usr/bin/env python3
"""Issue 14's second idea, measured: does a speaker-embedding window that holds two voices sit between the two voice
centroids? Per diarizer window (1.2 s at 0.6 s, resemblyzer's encoder, as analyzer.diarize computes them): the cosine
to the nearer and farther centroid and |score|; AUC for "the window holds >= 0.3 s of two-party speech".

    OMP_NUM_THREADS=1 python scripts/research/mono_overlap/embedding_probe.py --seed 5 --n 20 --condition original
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
from analyzer import diarize as dz  # noqa: E402
from analyzer.audio import probe  # noqa: E402
from analyzer.config import AnalysisConfig, DiarizationConfig  # noqa: E402
from analyzer.frames import extract_frames  # noqa: E402
from analyzer.intervals import AGENT, CUSTOMER, UNKNOWN, Segment, segments_to_frames  # noqa: E402
from analyzer.vad import channel_segments  # noqa: E402
from callsim.simulate import HARD_CASES, SimulationParams, call_seed, simulate_call  # noqa: E402
from eval_pacing import CORPORA, _first_voice  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--condition", choices=["original", "hard-cases"], default="original")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    extra = HARD_CASES if args.condition == "hard-cases" else {}
    config, dcfg = AnalysisConfig().replace(emotion={"enabled": False}, prosody={"enabled": False}), DiarizationConfig()
    rows = []
    for i in range(args.n):
        call = simulate_call(SimulationParams(seed=call_seed(args.seed, i), truth_threshold_db=None, **extra), corpora_root=CORPORA)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.wav"
            sf.write(path, call.mono, call.sample_rate_hz, subtype="ULAW")
            info = probe(path)
            frames = extract_frames(info, config, prosody=False)
            speech = _first_voice(info, channel_segments(frames.vad, frames.energy_db, [UNKNOWN], config.vad), [UNKNOWN], config)
            n = int(np.ceil(info.duration_s / dz.FRAME_S))
            spans = dz.speech_spans(speech, n)
            windows = dz.embedding_windows(spans, window_frames=dz._frames(dcfg.window_s), hop_frames=dz._frames(dcfg.hop_s),
                                           min_frames=dz._frames(dcfg.min_window_s))
            mask = dz.spans_to_mask(spans, n)
            stride = max(1, int(np.ceil(mask.sum() / dcfg.max_sample_frames)))
            emb = dz._first_pass(info, windows, mask, stride, dcfg)[0]
        voices = dz.cluster_voices(emb, windows, config=dcfg)
        unit = dz._unit(emb)
        centred = dz._unit(unit - unit.mean(0))
        first = voices.window_score > 0
        c0, c1 = dz._unit(centred[first].mean(0)), dz._unit(centred[~first].mean(0))
        cos0, cos1 = centred @ c0, centred @ c1
        segs = [Segment(s["start_s"], s["end_s"], s["speaker"]) for s in call.truth["segments"]]
        both = segments_to_frames([s for s in segs if s.speaker == AGENT], n, 0.01) & segments_to_frames(
            [s for s in segs if s.speaker == CUSTOMER], n, 0.01)
        for k, (a, b) in enumerate(windows):
            rows.append([float(max(cos0[k], cos1[k])), float(min(cos0[k], cos1[k])), float(abs(voices.window_score[k])),
                         int(both[a:b].sum()), int(b - a)])
        print(i, len(windows), flush=True)
    Path(args.out).write_text(json.dumps(rows))
    from sklearn.metrics import roc_auc_score

    r = np.array(rows)
    y = r[:, 3] >= 30
    print(f"windows {len(r)}, with >= 0.3 s two-party speech {y.mean():.3f}")
    for j, name in enumerate(("cosine to the nearer centroid (low: two voices?)", "cosine to the farther centroid (high?)",
                              "|score| (low: between the centroids?)")):
        auc = roc_auc_score(y, r[:, j])
        print(f"  {name}: AUC {max(auc, 1 - auc):.3f} ({'lower' if auc < 0.5 else 'higher'} for overlap)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
