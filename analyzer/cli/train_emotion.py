"""``call-analyzer train-emotion``: fine-tune or train an emotion model on a user's labelled clips."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..errors import AnalyzerError


def register_commands(subparsers) -> None:
    """Add ``train-emotion`` to the CLI's subparsers; it sets ``func(args) -> int``."""
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


def run_train(args) -> int:
    """Fine-tune/train on a user's CSV and write a model folder."""
    from ..emotion.train.fit import finetune_from_csv

    import torch

    if args.epochs < 1:
        print("error: --epochs must be at least 1", file=sys.stderr)
        return 1
    t0 = time.time()
    try:
        out = finetune_from_csv(args.data, base=args.base, out_dir=args.out, epochs=args.epochs,
                                n_augmented=args.augmented_copies, lr=args.lr, seed=args.seed)
    except AnalyzerError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 1
    print(f"wrote {out} in {time.time() - t0:.0f} s (torch threads: {torch.get_num_threads()})", file=sys.stderr)
    return 0
