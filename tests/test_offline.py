"""Nothing is fetched from the network: a full analysis (emotion model, mono diarization, HTML) opens no socket."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import soundfile as sf

from conftest import SAMPLE_CALL

# Runs the CLI in a fresh interpreter whose audit hook fails on any socket use (connect, bind,
# name lookup): stricter than a closed network, which would only fail once the connection is tried.
GUARDED_CLI = r"""
import sys
BLOCKED = {"socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto",
           "urllib.Request", "http.client.connect"}
def hook(event, args):
    if event in BLOCKED:
        raise RuntimeError(f"network use during analysis: {event} {args!r}")
sys.addaudithook(hook)
from analyzer.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    folder = tmp_path_factory.mktemp("offline") / "calls"
    folder.mkdir()
    shutil.copy(SAMPLE_CALL, folder / "stereo.flac")
    audio, rate = sf.read(SAMPLE_CALL, frames=8000 * 60)
    sf.write(folder / "mono.wav", audio.mean(axis=1), rate)
    return folder


def test_full_analysis_opens_no_socket(calls, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", GUARDED_CLI, "--debug", "analyze", str(calls), "--out", str(out),
                           "--quiet"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "network use" not in proc.stderr
    assert (out / "calls" / "mono.json").exists() and (out / "calls" / "stereo.json").exists()
    assert (out / "index.html").exists()


def test_guard_catches_a_socket_connection():
    probe = GUARDED_CLI.replace("from analyzer.cli import main\nsys.exit(main(sys.argv[1:]))",
                                "import socket\nsocket.create_connection(('127.0.0.1', 9))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "network use during analysis" in proc.stderr


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="no network namespaces here (unshare -n needs privileges)")
def test_analysis_works_with_networking_disabled(calls, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(["unshare", "-n", sys.executable, "-m", "analyzer", "analyze", str(calls / "stereo.flac"),
                           "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "calls" / "stereo.json").exists()


def test_transcription_opens_no_socket_with_the_model_from_the_wheels(corpora, tmp_path):
    from conftest import two_party_stereo

    pytest.importorskip("faster_whisper", reason="transcription extra not installed: pip install 'call-analyzer[asr]'")
    clips = [sf.read(corpora / "tess" / f"{s}_{w}_neutral.flac", dtype="float32")[0]
             for s, w in (("OAF", "book"), ("YAF", "boat"))]
    stereo, _ = two_party_stereo(clips[:1], clips[1:])
    (tmp_path / "calls").mkdir()
    sf.write(tmp_path / "calls" / "words.wav", stereo, 16000)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", GUARDED_CLI, "--debug", "analyze", str(tmp_path / "calls"), "--out",
                           str(out), "--quiet", "--no-emotion", "--transcribe"], capture_output=True, text=True,
                          timeout=600, env={k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "calls" / "words.json").read_text())
    assert "book" in " ".join(t.get("text", "") for t in result["turns"]).lower()
