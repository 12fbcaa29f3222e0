"""Validate the syllable-nucleus detector against clips whose syllable count is known.

Corpora (read from ../shared/corpora beside the checkout, or --corpora):
- EmoDB (German): 10 fixed sentences, syllables counted by hand below.
- nEMO (Polish): ``normalized_text`` of data.tsv, syllables counted with the
  vowel-letter rule of :func:`polish_syllables`.

Each clip is analysed at 16 kHz and after a telephone channel (300 Hz high-pass,
resampled to 8 kHz, 8-bit mu-law). The speech mask comes from the project's
webrtc VAD, smoothed as in the pipeline. Per corpus and channel the script
prints the mean true and detected count, Pearson r and the mean absolute
percentage error (MAPE).

    python scripts/validate_syllables.py                      # defaults of ProsodyConfig
    python scripts/validate_syllables.py --grid               # threshold x dip table (tuning)
    python scripts/validate_syllables.py --nemo-limit 300     # faster
    OMP_NUM_THREADS=1 python scripts/validate_syllables.py --speed   # CPU time of frame_prosody
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer import prosody  # noqa: E402
from analyzer.config import ProsodyConfig, VadConfig  # noqa: E402
from analyzer.intervals import smooth_frames  # noqa: E402
from analyzer.vad import WebrtcVad  # noqa: E402

HOP_S = 0.01
DEFAULT_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"

# EmoDB text id -> (sentence, syllables counted by hand in careful standard German;
# hyphens mark the syllables of each word).
EMODB_SENTENCES: dict[str, tuple[str, int]] = {
    # Der(1) Lap-pen(2) liegt(1) auf(1) dem(1) Eis-schrank(2)
    "a01": ("Der Lappen liegt auf dem Eisschrank.", 8),
    # Das(1) will(1) sie(1) am(1) Mitt-woch(2) ab-ge-ben(3)
    "a02": ("Das will sie am Mittwoch abgeben.", 9),
    # Heu-te(2) a-bend(2) könn-te(2) ich(1) es(1) ihm(1) sa-gen(2)
    "a04": ("Heute abend könnte ich es ihm sagen.", 11),
    # Das(1) schwar-ze(2) Stück(1) Pa-pier(2) be-fin-det(3) sich(1) da(1) o-ben(2) ne-ben(2) dem(1) Holz-stück(2)
    "a05": ("Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.", 18),
    # In(1) sie-ben(2) Stun-den(2) wird(1) es(1) so-weit(2) sein(1)
    "a07": ("In sieben Stunden wird es soweit sein.", 10),
    # Was(1) sind(1) denn(1) das(1) für(1) Tü-ten(2) die(1) da(1) un-ter(2) dem(1) Tisch(1) ste-hen(2)
    "b01": ("Was sind denn das für Tüten, die da unter dem Tisch stehen?", 15),
    # Sie(1) ha-ben(2) es(1) ge-ra-de(3) hoch-ge-tra-gen(4) und(1) jetzt(1) ge-hen(2) sie(1) wie-der(2) run-ter(2)
    "b02": ("Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.", 20),
    # An(1) den(1) Wo-chen-en-den(4) bin(1) ich(1) jetzt(1) im-mer(2) nach(1) Hau-se(2) ge-fah-ren(3) und(1)
    # ha-be(2) Ag-nes(2) be-sucht(2)
    "b03": ("An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.", 24),
    # Ich(1) will(1) das(1) e-ben(2) weg-brin-gen(3) und(1) dann(1) mit(1) Karl(1) was(1) trin-ken(2) ge-hen(2)
    "b09": ("Ich will das eben wegbringen und dann mit Karl was trinken gehen.", 17),
    # Die(1) wird(1) auf(1) dem(1) Platz(1) sein(1) wo(1) wir(1) sie(1) im-mer(2) hin-le-gen(3)
    "b10": ("Die wird auf dem Platz sein, wo wir sie immer hinlegen.", 14),
}

POLISH_VOWELS = "aąeęioóuy"


def polish_syllables(text: str) -> int:
    """Syllables of Polish text: one per vowel letter (a ą e ę i o ó u y), except an
    ``i`` directly before another vowel, which only marks softness or /j/ (``nie``,
    ``się``, ``historia`` = 1, 1, 3). Diphthongs of loanwords (``au``, ``eu``) are
    counted as two, a rare over-count.
    """
    text = text.lower()
    count = 0
    for i, ch in enumerate(text):
        if ch not in POLISH_VOWELS:
            continue
        if ch == "i" and i + 1 < len(text) and text[i + 1] in POLISH_VOWELS:
            continue
        count += 1
    return count


@dataclass(frozen=True)
class Clip:
    path: Path
    syllables: int
    speaker: str


# The shared EmoDB copy is cut to exactly 2.0 s per file, so long sentences are
# incomplete and their hand count is not the count of what is heard. Only the
# short sentences (8-11 syllables, which fit in 2 s at normal rates) are used,
# and only clips whose audio ends and starts quietly (see is_complete).
EMODB_COMPLETE_TEXTS = ("a01", "a02", "a04", "a07")


def is_complete(signal: np.ndarray, sample_rate_hz: int, *, edge_s: float = 0.15, quiet_db: float = 15.0) -> bool:
    """True if the first 50 ms and the last ``edge_s`` s are ``quiet_db`` below the clip's loud (95th pct) level."""
    level = prosody.intensity_db(signal, sample_rate_hz, hop_s=HOP_S)
    loud = np.percentile(level, 95)
    tail = level[-int(round(edge_s / HOP_S)) :]
    head = level[:5]
    return bool(loud - tail.max() >= quiet_db and loud - head.max() >= quiet_db)


def emodb_clips(root: Path, *, complete_only: bool = True) -> list[Clip]:
    """EmoDB clips of known text; by default only complete utterances of the short sentences."""
    clips = []
    for path in sorted((root / "emodb").glob("*.flac")):
        text_id = path.stem[2:5]
        if text_id not in EMODB_SENTENCES:
            continue
        if complete_only:
            if text_id not in EMODB_COMPLETE_TEXTS:
                continue
            signal, rate = sf.read(path, dtype="float32")
            if not is_complete(signal, rate):
                continue
        clips.append(Clip(path, EMODB_SENTENCES[text_id][1], path.stem[:2]))
    return clips


def nemo_clips(root: Path, limit: int | None = None) -> list[Clip]:
    clips = []
    with open(root / "nemo" / "data.tsv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            path = root / "nemo" / (Path(row["file_id"]).stem + ".flac")
            if path.exists():
                clips.append(Clip(path, polish_syllables(row["normalized_text"]), row["speaker_id"]))
    if limit and len(clips) > limit:
        pick = np.random.default_rng(0).choice(len(clips), size=limit, replace=False)
        clips = [clips[i] for i in sorted(pick)]
    return clips


def telephone(signal: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, int]:
    """300 Hz high-pass, resample to 8 kHz, 8-bit mu-law encode/decode."""
    import librosa

    sos = scipy.signal.butter(4, 300, btype="highpass", fs=sample_rate_hz, output="sos")
    x = scipy.signal.sosfilt(sos, signal)
    x = scipy.signal.resample_poly(x, 8000, sample_rate_hz)
    x = np.clip(x, -1.0, 1.0)
    x = librosa.mu_expand(librosa.mu_compress(x, mu=255, quantize=True), mu=255, quantize=True)
    return x.astype(np.float32), 8000


def speech_mask(signal: np.ndarray, sample_rate_hz: int, vad_config: VadConfig = VadConfig()) -> np.ndarray:
    """The project's webrtc VAD, smoothed like the pipeline (min speech 0.15 s, min silence 0.2 s)."""
    vad = WebrtcVad(sample_rate_hz, frame_ms=vad_config.frame_ms, mode=vad_config.webrtc_mode)
    active = vad.process(signal.astype(np.float32))
    return smooth_frames(active, HOP_S, min_speech_s=vad_config.min_speech_s, min_silence_s=vad_config.min_silence_s)


@dataclass(frozen=True)
class Analysed:
    clip: Clip
    intensity_db: np.ndarray
    f0_hz: np.ndarray
    mask: np.ndarray


def analyse(
    clips: list[Clip], channel: str, config: ProsodyConfig, *, pitch_step_s: float | None = None
) -> tuple[list[Analysed], float, float]:
    """Frame prosody of every clip; returns the analyses, audio seconds and compute seconds."""
    out, audio_s, compute_s = [], 0.0, 0.0
    for clip in clips:
        signal, rate = sf.read(clip.path, dtype="float32")
        if signal.ndim > 1:
            signal = signal.mean(axis=1)
        if channel == "telephone":
            signal, rate = telephone(signal, rate)
        mask = speech_mask(signal, rate)
        start = time.perf_counter()
        frames = prosody.frame_prosody(signal, rate, hop_s=HOP_S, config=config, pitch_step_s=pitch_step_s)
        compute_s += time.perf_counter() - start
        audio_s += len(signal) / rate
        n = min(len(mask), frames.n_frames)
        out.append(Analysed(clip, frames.intensity_db[:n], frames.f0_hz[:n], mask[:n]))
    return out, audio_s, compute_s


def detected_counts(analysed: list[Analysed], config: ProsodyConfig) -> np.ndarray:
    return np.array([
        len(prosody.syllable_nuclei(a.intensity_db, a.f0_hz, a.mask, hop_s=HOP_S, config=config)) for a in analysed
    ])


def scores(true: np.ndarray, detected: np.ndarray) -> dict[str, float]:
    return {
        "n": len(true),
        "true_mean": float(true.mean()),
        "detected_mean": float(detected.mean()),
        "r": float(np.corrcoef(true, detected)[0, 1]) if detected.std() > 0 else float("nan"),
        "mape_pct": float(100 * np.mean(np.abs(detected - true) / true)),
        "bias_pct": float(100 * (detected.sum() - true.sum()) / true.sum()),
    }


def speed(root: Path) -> None:
    """CPU seconds of frame_prosody for 10 min of one call channel: EmoDB clips with 0.5-3.5 s pauses
    (about half speech, like one party of a call), line noise at -60 dBFS, then the telephone channel."""
    rng = np.random.default_rng(0)
    pieces, total = [], 0
    for clip in emodb_clips(root, complete_only=False):
        signal, rate = sf.read(clip.path, dtype="float32")
        pieces += [signal, np.zeros(int(rng.uniform(0.5, 3.5) * rate), np.float32)]
        total += len(pieces[-2]) + len(pieces[-1])
        if total >= 600 * rate:
            break
    signal = np.concatenate(pieces)[: 600 * rate]
    signal, _ = telephone(signal + 1e-3 * rng.standard_normal(len(signal)).astype(np.float32), rate)
    mask = speech_mask(signal, 8000)[: len(signal) // 80]
    print(f"10 min of 8 kHz speech, {100 * mask.mean():.0f}% speech frames; CPU seconds (one thread, best of 2):")
    config = ProsodyConfig()
    variants = {
        "intensity only": lambda: prosody.intensity_db(signal, 8000, hop_s=HOP_S),
        "pitch at 2 kHz, 10 ms step": lambda: prosody.frame_prosody(signal, 8000, config=config, pitch_step_s=0.01),
        "+ speech_mask": lambda: prosody.frame_prosody(
            signal, 8000, config=config, speech_mask=mask, pitch_step_s=0.01),
        "pitch_step_s=0.02": lambda: prosody.frame_prosody(signal, 8000, config=config, pitch_step_s=0.02),
        "pitch_step_s=0.02 + speech_mask": lambda: prosody.frame_prosody(
            signal, 8000, config=config, pitch_step_s=0.02, speech_mask=mask),
        "pitch_rate_hz=4000, 10 ms": lambda: prosody.frame_prosody(
            signal, 8000, config=config, pitch_rate_hz=4000, pitch_step_s=0.01),
        "pitch_rate_hz=8000 (no resampling), 10 ms": lambda: prosody.frame_prosody(
            signal, 8000, config=config, pitch_rate_hz=8000, pitch_step_s=0.01),
    }
    for name, run in variants.items():
        best = float("inf")
        for _ in range(2):
            start = time.process_time()
            run()
            best = min(best, time.process_time() - start)
        print(f"  {name:38} {best:6.2f} s  ({600 / best:5.0f}x real time)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument("--nemo-limit", type=int, default=None, help="random subset of nEMO clips (seed 0)")
    parser.add_argument("--threshold-db", type=float, default=None, help="override ProsodyConfig.nucleus_threshold_db")
    parser.add_argument("--dip-db", type=float, default=None, help="override ProsodyConfig.nucleus_dip_db")
    parser.add_argument("--grid", action="store_true", help="print r / MAPE over a threshold x dip grid")
    parser.add_argument("--corpus", choices=["emodb", "nemo", "both"], default="both")
    parser.add_argument("--pitch-step-s", type=float, default=None,
                        help="Praat pitch time step (default: ProsodyConfig.pitch_step_s)")
    parser.add_argument("--speed", action="store_true", help="only time frame_prosody on 10 min of 8 kHz speech")
    args = parser.parse_args(argv)
    if not args.corpora.is_dir():
        print(f"{args.corpora}: corpora folder not found; pass --corpora", file=sys.stderr)
        return 2
    if args.speed:
        speed(args.corpora)
        return 0

    config = ProsodyConfig()
    if args.threshold_db is not None:
        config = replace(config, nucleus_threshold_db=args.threshold_db)
    if args.dip_db is not None:
        config = replace(config, nucleus_dip_db=args.dip_db)
    corpora = {}
    if args.corpus in ("emodb", "both"):
        corpora["emodb"] = emodb_clips(args.corpora)
    if args.corpus in ("nemo", "both"):
        corpora["nemo"] = nemo_clips(args.corpora, args.nemo_limit)

    print(f"threshold {config.nucleus_threshold_db} dB, dip {config.nucleus_dip_db} dB, "
          f"pitch {config.pitch_floor_hz}-{config.pitch_ceiling_hz} Hz, "
          f"pitch step {args.pitch_step_s or getattr(config, 'pitch_step_s', None) or HOP_S} s")
    print(f"{'corpus':7} {'channel':10} {'n':>5} {'true':>6} {'found':>6} {'r':>6} "
          f"{'MAPE%':>6} {'bias%':>6} {'x RT':>6}")
    for name, clips in corpora.items():
        true = np.array([c.syllables for c in clips], dtype=float)
        for channel in ("16k", "telephone"):
            analysed, audio_s, compute_s = analyse(clips, channel, config, pitch_step_s=args.pitch_step_s)
            s = scores(true, detected_counts(analysed, config))
            print(f"{name:7} {channel:10} {s['n']:5d} {s['true_mean']:6.2f} {s['detected_mean']:6.2f} "
                  f"{s['r']:6.3f} {s['mape_pct']:6.1f} {s['bias_pct']:6.1f} {audio_s / compute_s:6.0f}")
            if args.grid:
                print("    threshold_db dip_db      r  MAPE%  bias%")
                for threshold in (-10.0, -8.0, -6.0, -4.0, -2.0, 0.0, 2.0):
                    for dip in (0.5, 1.0, 1.5, 2.0, 3.0):
                        grid_config = replace(config, nucleus_threshold_db=threshold, nucleus_dip_db=dip)
                        g = scores(true, detected_counts(analysed, grid_config))
                        print(f"    {threshold:12.1f} {dip:6.1f} {g['r']:6.3f} "
                              f"{g['mape_pct']:6.1f} {g['bias_pct']:6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
