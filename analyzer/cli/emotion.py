"""``call-analyzer emotion``: score single clips (one speaker each) and print CSV."""

from __future__ import annotations

import csv
import sys

import numpy as np

from ..errors import AnalyzerError

MODEL_HELP = ("emotion model: 'open' = emotion-open-v2 (Whisper-base encoder, heads on EmoDB only, CC0 1.0: any use, default), "
              "'multi' = emotion-multi-v3 (EmoDB+RAVDESS+nEMO, CC BY-NC-SA 4.0: NON-COMMERCIAL use only), "
              "emotion-multi-v2, emotion-open-v1 / emotion-multi-v1 (the CNN models), or a model folder (default: %(default)s)")


def register_commands(subparsers) -> None:
    """Add ``emotion`` to the CLI's subparsers; it sets ``func(args) -> int``."""
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


def _read_clip(path: str) -> tuple[np.ndarray, int]:
    from ..audio import iter_blocks, probe

    info = probe(path, min_duration_s=0.0)
    audio = np.concatenate(list(iter_blocks(info)), axis=0)
    return audio.mean(axis=1), info.analysis_rate_hz


def run_emotion(args) -> int:
    """Print one CSV row per file; unreadable or unscorable files go to stderr (exit code 2; 1 = bad model)."""
    from ..emotion import load_model, score_turns

    try:
        model = load_model(args.model)
    except AnalyzerError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 1
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
    return 2 if failed else 0
