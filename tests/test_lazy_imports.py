"""Start-up cost: an analysis imports only what it uses (issue 16).

Each case runs in a fresh interpreter, analyses the shipped sample call and lists the heavy
libraries that ended up in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "tests" / "data" / "sample_call.flac"
HEAVY = ("torch", "librosa", "matplotlib", "sklearn", "pandas", "pyarrow", "scipy.signal", "scipy.ndimage", "scipy.stats",
         "onnxruntime")  # onnxruntime: the noisy-line check's silero runs only where the cheap screens find noise

CHILD = r"""
import json, sys
from analyzer import AnalysisConfig, analyze_file
config = AnalysisConfig().replace(**json.loads(sys.argv[2]))
analyze_file(sys.argv[1], config)
print(json.dumps(sorted(name for name in json.loads(sys.argv[3]) if name in sys.modules)))
"""


def _heavy_imports(sections: dict, names: tuple[str, ...] = HEAVY, path: Path = SAMPLE) -> list[str]:
    """Which of ``names`` a fresh interpreter has imported after analysing ``path`` (the sample call)."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), json.dumps(sections), json.dumps(names)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("sections", [{"emotion": {"enabled": False}},
                                      {"emotion": {"enabled": False}, "prosody": {"enabled": False}}],
                         ids=["no-emotion", "no-emotion-no-prosody"])
def test_an_analysis_without_emotion_imports_no_heavy_library(sections):
    assert _heavy_imports(sections) == []


def test_pacing_only_imports_neither_praat_nor_scipy():
    assert _heavy_imports({"emotion": {"enabled": False}, "prosody": {"enabled": False}}, ("parselmouth", "scipy")) == []


def test_a_mono_analysis_without_emotion_imports_no_librosa(tmp_path):
    """Diarization's mel filter bank is numpy (analyzer.mel): no librosa, numba or scipy.signal (~0.8 s, ~140 MB)."""
    import soundfile as sf

    stereo, rate = sf.read(SAMPLE, dtype="float32", frames=60 * 8000)
    mono = tmp_path / "mono.flac"
    sf.write(mono, stereo.mean(axis=1), rate)
    assert _heavy_imports({"emotion": {"enabled": False}}, ("librosa", "numba", "scipy.signal"), mono) == []
