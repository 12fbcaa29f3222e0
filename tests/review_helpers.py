"""A small analysed results folder for the review app's tests: two real-speech stereo calls (EmoDB
sentences placed by ``conftest.two_party_stereo``), analysed by ``analyze_files`` with the default QA rules,
emotion off (fast, so the turns have no machine emotion label)."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from analyzer.batch import analyze_files
from analyzer.config import AnalysisConfig
from conftest import two_party_stereo

CALL_IDS = ("north/2024-05-01/call-a", "north/2024-05-02/call-b")
FAST = AnalysisConfig().replace(emotion={"enabled": False})


def build_results(root: Path, clips: list) -> Path:
    """``root/audio/<call_id>.wav`` analysed into ``root/results`` (returned); HTML pages skipped."""
    audio = root / "audio"
    for k, call_id in enumerate(CALL_IDS):
        stereo, _ = two_party_stereo(clips[k: k + 3], clips[3: 6][::1 - 2 * k])
        path = audio / (call_id + ".wav")
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, stereo * 0.5, 16000)
    out = root / "results"
    summary = analyze_files([audio], FAST, out_dir=out, progress=False, html=False)
    assert summary.exit_code == 0, summary
    return out
