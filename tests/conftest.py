"""Shared fixtures: paths to ../shared/corpora, small real speech clips, and a fast analysis config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from analyzer.config import AnalysisConfig

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"
SAMPLE_CALL = REPO / "tests" / "data" / "sample_call.flac"


@pytest.fixture(scope="session")
def corpora() -> Path:
    if not CORPORA.exists():
        pytest.skip(f"speech corpora not found at {CORPORA} (they sit beside the checkout in CI)")
    return CORPORA


@pytest.fixture(scope="session")
def speech_clips(corpora):
    """A few real EmoDB sentences (16 kHz mono float32), two speakers, neutral."""
    files = sorted((corpora / "emodb").glob("03*N*.flac"))[:3] + sorted((corpora / "emodb").glob("08*N*.flac"))[:3]
    return [sf.read(f, dtype="float32")[0] for f in files]


@pytest.fixture
def fast_config() -> AnalysisConfig:
    """Pacing only (no emotion model), the default everything else."""
    return AnalysisConfig().replace(emotion={"enabled": False})


def two_party_stereo(clips_a, clips_b, *, rate=16000, gap_s=0.6, leak_db=None, lead_s=0.5):
    """Alternate clips of party A (left) and B (right) with fixed gaps; returns (stereo, truth turns)."""
    total = lead_s + sum(len(c) / rate + gap_s for c in clips_a + clips_b) + 1.0
    stereo = np.zeros((int(total * rate), 2), dtype=np.float32)
    t, turns = lead_s, []
    for a, b in zip(clips_a, clips_b):
        for clip, ch in ((a, 0), (b, 1)):
            start = int(t * rate)
            stereo[start : start + len(clip), ch] += clip
            turns.append((ch, t, t + len(clip) / rate))
            t += len(clip) / rate + gap_s
    if leak_db is not None:
        gain = 10 ** (leak_db / 20)
        stereo = stereo + gain * stereo[:, ::-1]
    return stereo, turns


SAY_THE_WORD_AGENT = ("book", "chair", "date")
SAY_THE_WORD_CUSTOMER = ("boat", "bean", "burn")


def say_the_word_call(corpora: Path) -> tuple[np.ndarray, list]:
    """A 13 s stereo call of six TESS clips ("Say the word X"), agent (OAF, left) and customer (YAF, right)
    alternating, 0.8 s gaps: (16 kHz float32 stereo, truth turns). Known words for the transcription tests."""
    def clip(speaker, word):
        return sf.read(corpora / "tess" / f"{speaker}_{word}_neutral.flac", dtype="float32")[0]

    return two_party_stereo([clip("OAF", w) for w in SAY_THE_WORD_AGENT],
                            [clip("YAF", w) for w in SAY_THE_WORD_CUSTOMER], gap_s=0.8)
