"""The package as a user gets it: a wheel installed outside the checkout, and the metric catalogue.

- The wheel (``pip wheel . --no-deps``) goes into a fresh virtual environment outside the
  checkout with its declared dependencies only (no system site-packages, no PYTHONPATH, no
  CALL_ANALYZER_MODELS_DIR), and analyses the sample call there with emotion on and
  ``--mono-mix``: the shipped models (emotion and the speaker encoder) load from the installed
  package and the result equals the checkout's.
- The catalogue's keys (analyzer/metrics/catalog.py) are exactly the keys ``analyze_file``
  produces on the sample call, stereo and mono, so documentation and code cannot drift.

Cost, measured on the 2-core machine: see the test's docstring.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from analyzer import AnalysisConfig, analyze_file
from analyzer.metrics.catalog import METRICS, WORDS_METRICS

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CALL = REPO / "tests" / "data" / "sample_call.flac"
# differ between two runs or two installs by design
VOLATILE_KEYS = ("timings_s", "path", "file_mtime_ns", "analysed_at")


@functools.lru_cache(maxsize=1)
def _mono_result() -> dict:
    """The checkout's analysis of the sample call's mono mix, emotion on (computed once per session)."""
    return analyze_file(SAMPLE_CALL, AnalysisConfig().replace(audio={"mono_mix": True})).to_dict()


def _plain(result: dict) -> dict:
    """The result as it is written to JSON, without the keys that change from run to run."""
    data = json.loads(json.dumps(result, allow_nan=False))
    return {k: v for k, v in data.items() if k not in VOLATILE_KEYS}


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CALL_ANALYZER_MODELS_DIR", "PYTHONHOME")}
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_analyses_the_sample_call_like_the_checkout(tmp_path):
    """Measured on the shared 2-core machine (load average 6-7 from other jobs): 100 s in all; wheel build
    5 s, venv + pip install of the declared dependencies 48 s (user CPU 14 s; pip resolves from the
    machine's local indexes and cache), during which the checkout analyses the call in this process;
    then the venv's own analysis 11 s."""
    env = _clean_env()
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(wheel_dir)],
                   check=True, env=env, cwd=tmp_path, capture_output=True)
    (wheel,) = wheel_dir.glob("call_analyzer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "analyzer/models/emotion-open-v1/weights.pt" in names
    assert all(f"analyzer/models/emotion-{m}/heads.json" in names for m in ("open-v2", "multi-v2", "multi-v3"))
    assert "analyzer/models/voice-encoder-resemblyzer/weights.pt" in names
    assert "analyzer/models/voice-encoder-resemblyzer/LICENSE" in names
    assert not any(n.startswith(("callsim/", "tests/", "scripts/")) for n in names)  # development code stays out
    assert "analyzer/review/templates/review_call.html.j2" in names and "analyzer/outputs/templates/call.html.j2" in names

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # --no-compile: byte-compiling ~1.5 GB of dependencies is half the install's CPU time and proves nothing
    install = subprocess.Popen([str(python), "-m", "pip", "install", "-q", "--no-compile", str(wheel)], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    mono_result = _mono_result()  # the checkout's analysis while pip installs
    _, install_err = install.communicate()
    assert install.returncode == 0, install_err[-2000:]

    where = subprocess.run([str(python), "-c", "import analyzer, callsim"], env=env, cwd=tmp_path,
                           capture_output=True, text=True)
    assert "No module named 'callsim'" in where.stderr
    out = tmp_path / "results"
    run = subprocess.run([str(env_dir / "bin" / "call-analyzer"), "analyze", str(SAMPLE_CALL), "--mono-mix",
                          "--out", str(out), "--no-html", "--quiet"], env=env, cwd=tmp_path, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    installed = json.loads((out / "calls" / "sample_call.json").read_text())

    assert installed["mode"] == "mono" and installed["versions"]["emotion_model"] == "emotion-open-v2"
    assert installed["metrics"]["customer_valence_end"] is not None  # emotion really scored
    assert installed["metrics"] == mono_result["metrics"]
    assert _plain(installed) == _plain(mono_result)
    # the review app works from the wheel alone (flask is a declared dependency, templates are package data)
    review = ("import sys; from analyzer.review.app import create_app; c = create_app(sys.argv[1]).test_client(); "
              "r = c.get('/call?id=sample_call', headers={'Host': 'localhost'}); print(r.status_code, b'td class=\"rv\"' in r.data)")
    served = subprocess.run([str(python), "-c", review, str(out)], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert served.stdout.split()[-2:] == ["200", "True"], served.stderr[-2000:]


@pytest.mark.parametrize("mono", [False, True], ids=["stereo", "mono"])
def test_metric_catalogue_keys_equal_the_keys_analyze_file_produces(mono):
    result = _mono_result() if mono else analyze_file(SAMPLE_CALL, AnalysisConfig()).to_dict()
    assert result["mode"] == ("mono" if mono else "stereo")
    assert set(result["metrics"]) == set(METRICS) - WORDS_METRICS  # transcription is off by default


def test_every_metric_the_pages_show_is_in_the_catalogue():
    from analyzer.outputs.html import INDEX_COLUMNS, METRIC_GROUPS

    shown = {key for _, keys in METRIC_GROUPS for key in keys} | {key for key, _ in INDEX_COLUMNS}
    assert shown - set(METRICS) == set()
