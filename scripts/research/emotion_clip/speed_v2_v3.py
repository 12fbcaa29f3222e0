"""Paired CPU cost of the emotion stage's model part, v2 vs v3 (same encoder blocks; pooling + heads differ).

score_turns on 40 turns (1.5-12 s, 8 kHz, EmoDB/RAVDESS clips joined) per round, models alternated, process_time,
one thread. usage: OMP_NUM_THREADS=1 python speed_v2_v3.py [ROUNDS]"""
import sys, time, numpy as np
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import torch
from analyzer.emotion import load_model, score_turns
from analyzer.emotion.train.corpora import list_clips
from analyzer.emotion.train.fit import read_clip
from analyzer.emotion.train.augment import simulate_phone

torch.set_num_threads(1)
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
clips = list_clips("emodb")[:60]
audio = np.concatenate([simulate_phone(*read_clip(c.path)) for c in clips])
rng = np.random.default_rng(0)
turns, speakers, pos = [], [], 0
for i in range(40):
    n = int(rng.uniform(1.5, 12.0) * 8000)
    if pos + n > len(audio):
        pos = 0
    turns.append(audio[pos:pos + n]); speakers.append("a" if i % 2 else "c"); pos += n
turn_s = sum(len(t) for t in turns) / 8000
models = {n: load_model(n) for n in ("emotion-open-v2", "emotion-open-v3", "emotion-multi-v2", "emotion-multi-v3")}
for m in models.values():
    score_turns(m, turns[:2], 8000, speakers[:2])  # warm: encoder loaded once per process
cpu = {n: [] for n in models}
for r in range(rounds):
    for n, m in (models.items() if r % 2 == 0 else reversed(list(models.items()))):
        t = time.process_time(); score_turns(m, turns, 8000, speakers); cpu[n].append(time.process_time() - t)
print(f"{len(turns)} turns, {turn_s:.0f} s of 8 kHz turn audio, {rounds} alternating rounds, one thread (CPU s per round):")
for n, v in cpu.items():
    print(f"  {n}: median {np.median(v):.3f} s ({turn_s / np.median(v):.0f}x real time of turn audio) {[round(x, 3) for x in v]}")
for a, b in (("emotion-open-v2", "emotion-open-v3"), ("emotion-multi-v2", "emotion-multi-v3")):
    ratios = [y / x for x, y in zip(cpu[a], cpu[b])]
    print(f"  {b} / {a}: paired ratio median {np.median(ratios):.3f} (per round {[round(x, 3) for x in ratios]})")
