"""``call-analyzer train-emotion``: fine-tune a shipped emotion model on a team's labelled turns of calls or clips."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..errors import AnalyzerError


def register_commands(subparsers) -> None:
    """Add ``train-emotion`` to the CLI's subparsers; it sets ``func(args) -> int``."""
    t = subparsers.add_parser(
        "train-emotion", help="fine-tune a shipped emotion model on your own labelled turns of calls (or clips)",
        description="Fine-tune a shipped emotion model on labelled turns of your calls (or clips) and write a model folder "
                    "(config.json with checksums, the weights, MODEL_CARD.md, finetune_report.json) that "
                    "`analyze --emotion-model FOLDER` loads. Turns CSV: path,start_s,end_s,label[,speaker][,channel][,call_id] "
                    "(the output of `call-analyzer annotations RESULTS --out labels.csv`; channel = the speaker's stereo channel, "
                    "empty = the mix); clips CSV: path,label[,speaker]. Labels: neutral, happy, angry, sad; relative paths start "
                    "at the CSV's folder; other columns are ignored. Whole calls are held out (--holdout) and the base model's "
                    "and the fine-tuned model's per-turn UAR on them are printed and written to the card. For the v2 encoder "
                    "models (open, multi) the heads are warm-started from the shipped weights and refit with a penalty toward "
                    "them; for the v1 CNN models the network is fine-tuned. A model fine-tuned from 'multi' inherits its "
                    "CC BY-NC-SA 4.0 licence.",
    )
    t.add_argument("--data", required=True, type=Path, help="turns or clips CSV (see above)")
    t.add_argument("--base", default="open",
                   help="model to start from: open (= emotion-open-v2), multi (= emotion-multi-v3), emotion-multi-v2, emotion-open-v1, "
                        "emotion-multi-v1, a model folder, or none (train a v1 CNN from scratch) (default: %(default)s)")
    t.add_argument("--out", required=True, type=Path, help="model folder to write")
    t.add_argument("--holdout", type=float, default=0.25,
                   help="share of the rows held out for the before/after check, as whole calls (clips: speakers); "
                        "0 = train on everything, no check (default: %(default)s)")
    t.add_argument("--report", type=Path, default=None, help="also write the before/after report (JSON) here")
    t.add_argument("--augmented-copies", type=int, default=2, help="augmented copies per training row (default: %(default)s)")
    t.add_argument("--epochs", type=int, default=10, help="v1 CNN models only: training epochs (default: %(default)s)")
    t.add_argument("--lr", type=float, default=None, help="v1 CNN models only: peak learning rate (default: 5e-4 fine-tuning, 2e-3 from scratch)")
    t.add_argument("--seed", type=int, default=0, help="seed of the held-out split, inner CV and augmentation (default: %(default)s)")
    t.set_defaults(func=run_train)


def run_train(args) -> int:
    """Fine-tune/train on a user's CSV, write a model folder and print the before/after figures."""
    from ..emotion.train.finetune import finetune_from_csv

    import torch

    for name, value, low, high in (("--epochs", args.epochs, 1, 10_000), ("--augmented-copies", args.augmented_copies, 0, 20)):
        if not low <= value <= high:
            print(f"error: {name} must be within {low}..{high}, got {value}", file=sys.stderr)
            return 1
    if not 0.0 <= args.holdout < 1.0:
        print(f"error: --holdout must be within 0..1 (a share of the rows), got {args.holdout}", file=sys.stderr)
        return 1
    t0 = time.time()
    try:
        out, report = finetune_from_csv(args.data, base=args.base, out_dir=args.out, epochs=args.epochs,
                                        n_augmented=args.augmented_copies, lr=args.lr, seed=args.seed, holdout_share=args.holdout)
    except AnalyzerError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 1
    for line in report.get("summary", []):
        print(line)
    if args.report is not None:
        args.report.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out} in {time.time() - t0:.0f} s (torch threads: {torch.get_num_threads()})", file=sys.stderr)
    return 0
