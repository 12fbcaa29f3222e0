"""Train a shipped emotion model on the shared corpora and write its model folder.

    python scripts/train_emotion.py --model open    # EmoDB only -> analyzer/models/emotion-open-v1 (CC0)
    python scripts/train_emotion.py --model multi   # EmoDB+RAVDESS+nEMO -> analyzer/models/emotion-multi-v1 (CC BY-NC-SA 4.0)

Features (with augmented copies) are cached under /tmp/call-analyzer-emotion-cache.
TESS and TurEV are never read here. Runs on one thread (set in main).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analyzer.emotion.train.card import model_card  # noqa: E402
from analyzer.emotion.train.corpora import TRAINABLE  # noqa: E402
from analyzer.emotion.train.fit import (RECIPES, cached_corpus_features, cached_corpus_functionals, concat_features, fit,  # noqa: E402
                                       fit_functionals_part, save_model_folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(RECIPES), required=True)
    parser.add_argument("--out", type=Path, default=None, help="model folder (default analyzer/models/<name>)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpora-root", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    recipe = RECIPES[args.model]
    assert all(c in TRAINABLE for c in recipe["corpora"])
    t0 = time.time()
    fs = concat_features([cached_corpus_features(c, n_augmented=recipe["n_augmented"], seed=args.seed, root=args.corpora_root)
                          for c in recipe["corpora"]])
    epochs = args.epochs or recipe["epochs"]
    print(f"training {recipe['name']} on {len(fs.paths)} clips, {len(set(fs.speakers))} speakers, {epochs} epochs", flush=True)
    trained = fit(fs, np.arange(len(fs.paths)), epochs=epochs, seed=args.seed, steps_per_epoch=recipe["steps_per_epoch"], crop_frames=recipe["crop_frames"])
    out = args.out or REPO / "analyzer" / "models" / recipe["name"]
    training = {"corpora": recipe["corpora"], "epochs": epochs, "steps_per_epoch": recipe["steps_per_epoch"] or "one pass",
                "batch_size": 32, "crop_frames": recipe["crop_frames"], "n_augmented_copies": recipe["n_augmented"], "seed": args.seed,
                "final_train_loss": round(trained["history"][-1]["loss"], 4),
                "command": f"python scripts/train_emotion.py --model {args.model}"}
    n_params = sum(v.numel() for k, v in trained["state_dict"].items() if "running" not in k and "num_batches" not in k)
    counts = {c: sum(1 for x in fs.corpora if x == c) for c in recipe["corpora"]}
    card = model_card(name=recipe["name"], licence=recipe["licence"], licence_text=recipe["licence_text"],
                      training_data=recipe["corpora"], n_clips=len(fs.paths), n_speakers=len(set(fs.speakers)),
                      size_bytes=0, n_params=n_params, training=training,
                      data_note="Clips per corpus: " + ", ".join(f"{c} {n}" for c, n in counts.items())
                      + " (only the 4 project classes; label mapping in ../shared/corpora/README.md).")
    # The functionals part (fit on the same clips); its fusion weight is chosen by speaker-grouped CV in
    # scripts/eval_emotion.py --attach-fusion. Until then keep the folder's previous weight (or 0.5).
    previous = out / "config.json"
    weight = json.loads(previous.read_text())["fusion"]["network_weight"] if previous.exists() and "fusion" in json.loads(previous.read_text()) else 0.5
    funcs = [cached_corpus_functionals(c, [p for p, q in zip(fs.paths, fs.corpora) if q == c]) for c in recipe["corpora"]]
    classifier = fit_functionals_part(np.concatenate([f["16k"] for f in funcs]), np.concatenate([f["8k-mulaw"] for f in funcs]),
                                      list(fs.labels), list(fs.speakers))
    save_model_folder(out, trained, name=recipe["name"], licence=recipe["licence"], training=training, card=card,
                      functionals_classifier=classifier, network_weight=weight,
                      fusion_note=f"network weight {weight} kept from the previous folder (or default); rerun "
                                  f"scripts/eval_emotion.py --model {args.model} --attach-fusion to choose it by speaker-grouped CV")
    size = (out / "weights.pt").stat().st_size
    card = card.replace("weights.pt is 0.00 MB", f"weights.pt is {size / 1e6:.2f} MB")
    (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    print(f"wrote {out} in {time.time() - t0:.0f} s; choose the fusion weight by CV with "
          f"`python scripts/eval_emotion.py --model {args.model} --attach-fusion`", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
