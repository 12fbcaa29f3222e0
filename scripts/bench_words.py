#!/usr/bin/env python3
"""Word error rate and speed of the transcription stage on corpora whose text is known.

- EmoDB (German): the ten sentence texts of the corpus documentation; the code is characters
  3-5 of the file name (``03a01Fa`` -> ``a01``).
- nEMO (Polish): ``data.tsv`` column ``raw_text``.
- TESS (English): "Say the word X", X from the file name ``OAF_back_neutral``.

Clips are transcribed the way the product transcribes one party's turns: joined into pieces of
at most ``AsrConfig.chunk_s`` seconds with ``join_gap_s`` of silence between them
(:func:`analyzer.words.plan_pieces` / ``place_words``), int8 on one CPU thread. The language is
detected once per piece (as once per call). ``--telephone`` sends every clip through 8 kHz first
(down and up again, the telephone band). WER = word-level Levenshtein edits / reference words,
case and punctuation ignored; speed = decoding seconds (wall and CPU) per second of clip audio
(x real time; the CPU figure is the steadier one on a shared machine).

    OMP_NUM_THREADS=1 python scripts/bench_words.py --per-corpus 60 [--telephone] [--beam 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from analyzer.config import AsrConfig
from analyzer.metrics.words import word_error_rate
from analyzer.intervals import Segment
from analyzer.turns import Turn
from analyzer.words import WHISPER_RATE_HZ, _decode, join_spans, load_transcriber, place_words, plan_pieces

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
EMODB_TEXTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}


def spread(items: list, n: int) -> list:
    """``n`` items evenly spaced over the sorted list (every speaker and label gets some)."""
    items = sorted(items)
    if len(items) <= n:
        return items
    return [items[int(i * len(items) / n)] for i in range(n)]


def emodb(n: int) -> list[tuple[Path, str, str]]:
    files = spread((CORPORA / "emodb").glob("*.flac"), n)
    return [(f, EMODB_TEXTS[f.stem[2:5]], "de") for f in files]


def nemo(n: int) -> list[tuple[Path, str, str]]:
    with open(CORPORA / "nemo" / "data.tsv", encoding="utf-8") as handle:
        text = {row["file_id"].rsplit(".", 1)[0]: row["raw_text"] for row in csv.DictReader(handle, delimiter="\t")}
    files = spread([f for f in (CORPORA / "nemo").glob("*.flac") if f.stem in text], n)
    return [(f, text[f.stem], "pl") for f in files]


def tess(n: int) -> list[tuple[Path, str, str]]:
    files = spread((CORPORA / "tess").glob("*.flac"), n)
    return [(f, f"Say the word {f.stem.split('_')[1]}", "en") for f in files]


def run_corpus(name: str, clips: list[tuple[Path, str, str]], *, config: AsrConfig, telephone: bool) -> dict:
    model = load_transcriber(config.model, config.compute_type, config.threads).model
    audio = []
    for path, _, _ in clips:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        if telephone:
            x = soxr.resample(soxr.resample(x, sr, 8000), 8000, sr)
        if sr != WHISPER_RATE_HZ:
            x = soxr.resample(x, sr, WHISPER_RATE_HZ)
        audio.append(x.astype(np.float32))
    # the clips laid end to end (1 s apart) as one party's turns, joined into pieces by the product's code
    gap_s, t, turns = 1.0, 0.0, []
    for i, x in enumerate(audio):
        turns.append(Turn(i, "agent", (Segment(t, t + len(x) / WHISPER_RATE_HZ, "agent"),)))
        t += len(x) / WHISPER_RATE_HZ + gap_s
    starts = {turn.index: turn.start_s for turn in turns}
    pieces = plan_pieces(turns, chunk_s=config.chunk_s, join_gap_s=config.join_gap_s, min_turn_s=0.0)

    def read(start_s: float, end_s: float) -> np.ndarray:
        i = min(starts, key=lambda k: abs(starts[k] - start_s))
        a = int(round((start_s - starts[i]) * WHISPER_RATE_HZ))
        return audio[i][a:a + int(round((end_s - start_s) * WHISPER_RATE_HZ))]

    hyp: dict[int, list[str]] = {}
    detected, decode_s, decode_cpu_s = [], 0.0, 0.0
    for spans in pieces:
        joined = join_spans(spans, read)
        t0, c0 = time.perf_counter(), time.process_time()
        language, _, _ = model.detect_language(joined)
        raw = _decode(model, joined, language, config)
        decode_s += time.perf_counter() - t0
        decode_cpu_s += time.process_time() - c0
        detected.append(language)
        for index, words in place_words(raw, spans).items():
            hyp.setdefault(index, []).extend(w.word for w in words)
    edits = ref_words = 0
    examples = []
    for i, (path, reference, _) in enumerate(clips):
        hypothesis = "".join(hyp.get(i, []))
        _, e, n = word_error_rate(reference, hypothesis)
        edits, ref_words = edits + e, ref_words + n
        if e and len(examples) < 5:
            examples.append({"file": path.name, "reference": reference, "hypothesis": hypothesis.strip()})
    audio_s = sum(len(x) for x in audio) / WHISPER_RATE_HZ
    expected = clips[0][2]
    return {"corpus": name, "clips": len(clips), "audio_s": round(audio_s, 1), "ref_words": ref_words,
            "wer": round(edits / ref_words, 4), "x_real_time": round(decode_s / audio_s, 3),
            "x_real_time_cpu": round(decode_cpu_s / audio_s, 3),
            "language_correct_share": round(sum(d == expected for d in detected) / len(detected), 3),
            "pieces": len(pieces), "examples": examples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-corpus", type=int, default=60, help="clips per corpus")
    parser.add_argument("--corpora", default="emodb,nemo,tess")
    parser.add_argument("--beam", type=int, default=AsrConfig.beam_size, help="decoding beam size")
    parser.add_argument("--telephone", action="store_true", help="band-limit every clip through 8 kHz first")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    config = AsrConfig(enabled=True, beam_size=args.beam)
    sources = {"emodb": emodb, "nemo": nemo, "tess": tess}
    rows = [run_corpus(name, sources[name](args.per_corpus), config=config, telephone=args.telephone)
            for name in args.corpora.split(",")]
    print(f"| corpus{' (8 kHz)' if args.telephone else ''} | clips | audio s | ref words | WER | "
          f"x real time wall / CPU (1 thread, int8, beam {args.beam}) | language right |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['corpus']} | {r['clips']} | {r['audio_s']} | {r['ref_words']} | {100 * r['wer']:.1f}% | "
              f"{r['x_real_time']} / {r['x_real_time_cpu']} | {100 * r['language_correct_share']:.0f}% |")
    for r in rows:
        for ex in r["examples"][:3]:
            print(f"  {r['corpus']} {ex['file']}: ref {ex['reference']!r} -> hyp {ex['hypothesis']!r}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
