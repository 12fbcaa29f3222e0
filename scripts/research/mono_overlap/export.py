#!/usr/bin/env python3
"""Convert a study MLP (study.py --save, torch) into analyzer.overlap's shipped format (weights.npz + config.json).

    python scripts/research/mono_overlap/export.py /work/ovl_cache/mlp_emodb_s11_12.pt /tmp/overlap-model --card card.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from overlap import OverlapModel, save_model  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--name", default="overlap-mono-v1")
    ap.add_argument("--card", help="JSON with training data, licence, measured figures")
    args = ap.parse_args()
    import torch

    saved = torch.load(args.model, weights_only=False)
    state = saved["state"]
    keys = sorted({k.rsplit(".", 1)[0] for k in state}, key=lambda k: int(k))
    layers = tuple((state[f"{k}.weight"].numpy().T.astype(np.float32).copy(), state[f"{k}.bias"].numpy().astype(np.float32))
                   for k in keys)
    model = OverlapModel(args.name, saved["mean"].astype(np.float32), saved["std"].astype(np.float32), layers)
    card = json.loads(Path(args.card).read_text()) if args.card else {}
    print(save_model(model, Path(args.out), card=card))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
