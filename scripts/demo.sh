#!/usr/bin/env bash
# README command 1: set everything up, then analyse the sample call shipped in tests/data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
call-analyzer analyze tests/data/sample_call.flac --out demo-results
echo "results: demo-results/calls.csv, demo-results/calls/sample_call.json, demo-results/index.html"
