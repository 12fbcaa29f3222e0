"""The `emotion` and `train-emotion` sub-commands (registered into the main CLI by ``register_commands``)."""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import AnalyzerError

MODEL_HELP = ("emotion model: 'open' = emotion-open-v1 (EmoDB only, CC0 1.0: any use, default), "
              "'multi' = emotion-multi-v1 (EmoDB+RAVDESS+nEMO, CC BY-NC-SA 4.0: NON-COMMERCIAL use only), "
              "or a model folder (default: %(default)s)")


def register_commands(subparsers) -> None:
    """Add ``emotion`` and ``train-emotion`` to an argparse sub-parser set; handlers are ``args.func(args) -> int``."""
    p = subparsers.add_parser(
        "emotion", help="score single clips (one speaker each) and print CSV",
        description="Score the emotion of single clips (one speaker per clip; long clips are scored in 4 s windows "
                    "and pooled). Prints CSV: path,label,p_neutral,p_happy,p_angry,p_sad,arousal,valence. "
                    "Note: the 'multi' model is licensed CC BY-NC-SA 4.0 (non-commercial use only).",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (any format the analyzer reads)")
    p.add_argument("--model", default="open", help=MODEL_HELP)
    p.add_argument("--speaker", action="store_true",
                   help="treat all FILEs as one speaker (judge each relative to that speaker's baseline over all files)")
    p.set_defaults(func=run_emotion)

    t = subparsers.add_parser(
        "train-emotion", help="fine-tune or train an emotion model on your own labelled clips",
        description="Fine-tune a shipped emotion model (or train one from scratch) on labelled clips and write a "
                    "model folder (weights.pt, config.json with checksum, MODEL_CARD.md). The CSV has columns "
                    "path,label[,speaker]; labels: neutral, happy, angry, sad. A model fine-tuned from 'multi' "
                    "inherits its CC BY-NC-SA 4.0 licence.",
    )
    t.add_argument("--data", required=True, type=Path, help="CSV with path,label[,speaker] (relative paths are relative to the CSV)")
    t.add_argument("--base", default="open", help="starting point: open, multi, a model folder, or none (from scratch) (default: %(default)s)")
    t.add_argument("--out", required=True, type=Path, help="model folder to write")
    t.add_argument("--epochs", type=int, default=10, help="training epochs (default: %(default)s)")
    t.add_argument("--augmented-copies", type=int, default=2, help="augmented copies per clip (default: %(default)s)")
    t.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 5e-4 fine-tuning, 2e-3 from scratch)")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=run_train)


def _read_clip(path: str) -> tuple[np.ndarray, int]:
    from ..audio import iter_blocks, probe

    info = probe(path, min_duration_s=0.0)
    audio = np.concatenate(list(iter_blocks(info)), axis=0)
    return audio.mean(axis=1), info.analysis_rate_hz


def run_emotion(args) -> int:
    """Print one CSV row per file; unreadable or unscorable files go to stderr (exit code 1)."""
    from . import load_model, score_turns

    try:
        model = load_model(args.model)
    except AnalyzerError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    clips, rates, names, failed = [], [], [], 0
    for path in args.files:
        try:
            clip, rate = _read_clip(path)
        except AnalyzerError as exc:
            print(f"error: {exc.one_line()}", file=sys.stderr)
            failed += 1
            continue
        clips.append(clip)
        rates.append(rate)
        names.append(path)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["path", "label", "p_neutral", "p_happy", "p_angry", "p_sad", "arousal", "valence"])
    scores: list = []
    for rate in sorted(set(rates)):  # one batch per analysis rate
        idx = [i for i, r in enumerate(rates) if r == rate]
        speakers = ["one"] * len(idx) if args.speaker else [names[i] for i in idx]
        try:
            got = score_turns(model, [clips[i] for i in idx], rate, speakers)
        except AnalyzerError as exc:
            print(f"error: {exc.one_line()}", file=sys.stderr)
            return 1
        scores.extend(zip(idx, got))
    for i, score in sorted(scores, key=lambda x: x[0]):
        if score is None:
            print(f"error: {names[i]}: clip shorter than 0.5 s or silent; not scored", file=sys.stderr)
            failed += 1
            continue
        writer.writerow([names[i], score["emotion_label"]] + [f"{score[k]:.4f}" for k in ("p_neutral", "p_happy", "p_angry", "p_sad", "arousal", "valence")])
    print(f"# model {model.name} ({model.licence})", file=sys.stderr)
    return 1 if failed else 0


def run_train(args) -> int:
    """Fine-tune/train on a user's CSV and write a model folder."""
    from .training import finetune_from_csv

    import torch

    if args.epochs < 1:
        print("error: --epochs must be at least 1", file=sys.stderr)
        return 2
    t0 = time.time()
    try:
        out = finetune_from_csv(args.data, base=args.base, out_dir=args.out, epochs=args.epochs,
                                n_augmented=args.augmented_copies, lr=args.lr, seed=args.seed)
    except AnalyzerError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    print(f"wrote {out} in {time.time() - t0:.0f} s (torch threads: {torch.get_num_threads()})", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m analyzer.emotion.cli emotion FILE``) until the main CLI links it."""
    parser = argparse.ArgumentParser(prog="call-analyzer")
    register_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
