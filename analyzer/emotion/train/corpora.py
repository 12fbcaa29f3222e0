"""Labelled clips of the shared emotion corpora (see ../shared/corpora/README.md).

Only the training and evaluation scripts and the tests use this module.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

TRAINABLE = ("emodb", "ravdess", "nemo")  # licences allow training (RAVDESS, nEMO: only NC-SA models)
EVAL_ONLY = ("tess", "turev", "ased")  # TESS, TurEV: CC BY-NC-ND; ASED: no licence: never trained on, not even for statistics

_EMODB = {"N": "neutral", "F": "happy", "W": "angry", "T": "sad"}
_RAVDESS = {"01": "neutral", "03": "happy", "05": "angry", "04": "sad"}
_NEMO = {"neutral": "neutral", "happiness": "happy", "anger": "angry", "sadness": "sad"}
_TESS = {"neutral": "neutral", "happy": "happy", "angry": "angry", "sad": "sad"}
_TUREV = {"Calm": "neutral", "Happy": "happy", "Angry": "angry", "Sad": "sad"}
_ASED = {"01Neutral": "neutral", "03Happy": "happy", "04Sad": "sad", "05Angry": "angry"}  # fearful not copied


@dataclass(frozen=True)
class Clip:
    """One labelled recording; ``speaker`` is prefixed by the corpus name (unique across corpora)."""

    path: str
    label: str
    speaker: str
    corpus: str


def default_root() -> Path:
    """``../shared/corpora`` beside the repository checkout."""
    return Path(__file__).resolve().parents[4] / "shared" / "corpora"


def list_clips(corpus: str, root: str | Path | None = None) -> list[Clip]:
    """All clips of one corpus with one of the 4 project labels, sorted by path."""
    base = Path(root or default_root()) / corpus
    clips: list[Clip] = []
    if corpus == "emodb":
        for p in base.glob("*.flac"):
            if p.name[5] in _EMODB:
                clips.append(Clip(str(p), _EMODB[p.name[5]], f"emodb:{p.name[:2]}", corpus))
    elif corpus == "ravdess":
        for p in base.glob("*/*.flac"):
            fields = p.stem.split("-")
            if fields[2] in _RAVDESS:
                clips.append(Clip(str(p), _RAVDESS[fields[2]], f"ravdess:{fields[6]}", corpus))
    elif corpus == "nemo":
        with open(base / "data.tsv", encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                p = base / (Path(row["file_id"]).stem + ".flac")
                if row["emotion"] in _NEMO and p.exists():
                    clips.append(Clip(str(p), _NEMO[row["emotion"]], f"nemo:{row['speaker_id']}", corpus))
    elif corpus == "tess":
        for p in base.glob("*.flac"):
            emotion = p.stem.split("_")[-1]
            if emotion in _TESS:
                clips.append(Clip(str(p), _TESS[emotion], f"tess:{p.stem.split('_')[0]}", corpus))
    elif corpus == "turev":
        for folder, label in _TUREV.items():
            for p in (base / folder).glob("*.flac"):
                clips.append(Clip(str(p), label, f"turev:{p.name.split('_')[0]}", corpus))
    elif corpus == "ased":
        for folder, label in _ASED.items():
            for p in (base / folder).glob("*.flac"):  # xn-yy-aa-gg-bb: bb = speaker
                clips.append(Clip(str(p), label, f"ased:{p.stem.split('-')[4]}", corpus))
    else:
        raise ValueError(f"unknown corpus {corpus!r}; known: {', '.join(TRAINABLE + EVAL_ONLY)}")
    return sorted(clips, key=lambda c: c.path)
