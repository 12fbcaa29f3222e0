"""CPU time of the pipeline on the 10-minute bench call with emotion off and with each model variant (one thread)."""
import sys, time, json, os
sys.path.insert(0, os.getcwd() + "/scripts")
import torch; torch.set_num_threads(1)
from pathlib import Path
from bench_speed import make_long_call
from analyzer.config import AnalysisConfig
from analyzer.pipeline import analyze_file
from analyzer.emotion import load_model
path = make_long_call(10, Path("/tmp/emo-speed"))
def cpu(cfg, m=None):
    c0 = time.process_time(); r = analyze_file(path, cfg, emotion_model=m); return time.process_time() - c0, r
base, r = cpu(AnalysisConfig().replace(emotion={"enabled": False}))
speech = sum(t["end_s"] - t["start_s"] for t in r.turns)
print(f"no emotion: {base:.2f} s CPU ({r.duration_s / base:.0f}x); turn audio {speech:.0f} s over {len(r.turns)} turns", flush=True)
for spec in sys.argv[1:]:
    name, _, hop = spec.partition("@")
    m = load_model(name); c0 = time.process_time()
    if hasattr(m, "_encoder"): m._encoder()
    load = time.process_time() - c0
    em = {"enabled": True, "model": name}
    if hop: em["hop_s"] = float(hop)
    full, r = cpu(AnalysisConfig().replace(emotion=em), m)
    labels = [t.get("emotion_label") for t in r.turns]
    print(f"{spec}: load {load:.1f} s CPU; pipeline {full:.2f} s CPU = {r.duration_s / full:.0f}x real time; emotion stage ~{full - base:.2f} s = "
          f"{r.duration_s / (full - base):.0f}x; labels {dict((k, labels.count(k)) for k in set(labels))}", flush=True)
