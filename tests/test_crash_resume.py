"""Crash safety: a batch killed with SIGKILL at any point loses nothing written, and a re-run finishes the job.

A folder of real-speech calls is analysed once without interruption (the reference), then
again from scratch while the process is killed several times at different points (after the
first call, in the middle, during the final tables and pages). After each kill every output
file present must be whole and the SQLite database consistent; each re-run must analyse
exactly the calls that have no result yet, and the final outputs must equal the reference.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

N_CALLS = 10
VOLATILE_KEYS = ("timings_s", "analysed_at")  # wall-clock timings and times differ from run to run; everything else must match


@pytest.fixture(scope="module")
def call_folder(tmp_path_factory, corpora):
    from callsim.simulate import SimulationParams, call_seed, simulate_call, write_call

    folder = tmp_path_factory.mktemp("crash") / "calls"
    for index in range(N_CALLS):
        params = SimulationParams(seed=call_seed(7, index), n_turns=16)
        write_call(simulate_call(params, corpora_root=corpora), folder / f"team{index % 2}", f"call_{index:02d}")
    for truth in folder.rglob("*.truth.json"):
        truth.unlink()
    return folder


def _command(folder: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "analyzer", "analyze", str(folder), "--out", str(out), "--quiet", "--no-emotion"]


def _json_files(out: Path) -> dict[str, Path]:
    root = out / "calls"
    return {str(p.relative_to(root).with_suffix("")): p for p in root.rglob("*.json")} if root.exists() else {}


def _run_and_kill(folder: Path, out: Path, until, *, extra_delay_s: float = 0.0) -> int:
    """Start a batch, wait until ``until()`` holds (+ a delay), then SIGKILL it; returns its exit status."""
    proc = subprocess.Popen(_command(folder, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while not until() and proc.poll() is None:
            assert time.monotonic() < deadline, "batch made no progress"
            time.sleep(0.002)
        time.sleep(extra_delay_s)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        return proc.wait()


def _assert_outputs_whole(out: Path) -> None:
    for path in _json_files(out).values():
        json.loads(path.read_text(encoding="utf-8"))  # raises on a half-written file
    for name in ("calls.csv", "turns.csv"):
        if (out / name).exists():
            pd.read_csv(out / name)
    for name in ("calls.parquet", "turns.parquet"):
        if (out / name).exists():
            pd.read_parquet(out / name)
    if (out / "results.sqlite").exists():
        with sqlite3.connect(out / "results.sqlite") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            stored = {row[0] for row in conn.execute("SELECT call_id FROM calls")}
            orphans = conn.execute("SELECT COUNT(*) FROM turns WHERE call_id NOT IN (SELECT call_id FROM calls)")
            assert orphans.fetchone()[0] == 0, "turns without their call: a transaction was split"
        assert set(_json_files(out)) <= stored, "every call with a JSON result is in the database"


def _comparable(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in VOLATILE_KEYS}


def _summary_counts(stderr: str) -> tuple[int, int]:
    line = next(line for line in stderr.splitlines() if " analysed, " in line)
    analysed = int(line.split(" analysed,")[0].split()[-1])
    skipped = int(line.split(" already up to date")[0].split()[-1])
    return analysed, skipped


@pytest.fixture(scope="module")
def reference(call_folder):
    out = call_folder.parent / "reference"
    proc = subprocess.run(_command(call_folder, out), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out


def test_killed_batches_resume_to_exactly_the_uninterrupted_outputs(call_folder, reference):
    out = call_folder.parent / "killed"

    def results_grew_by(n):
        target = len(_json_files(out)) + n
        return lambda: len(_json_files(out)) >= target

    def table_rewritten():
        path = out / "calls.csv"
        before = path.stat().st_mtime_ns if path.exists() else None
        return lambda: path.exists() and path.stat().st_mtime_ns != before

    kill_points = [
        ("just after the first result", lambda: results_grew_by(1), 0.0),
        ("in the middle of a call", lambda: results_grew_by(3), 0.013),
        ("while the final tables are written", table_rewritten, 0.0),
        ("while the tables are rebuilt again (nothing left to analyse)", table_rewritten, 0.0),
    ]
    for where, make_until, delay_s in kill_points:
        until = make_until()
        done_before = {call_id: path.stat().st_mtime_ns for call_id, path in _json_files(out).items()}
        status = _run_and_kill(call_folder, out, until, extra_delay_s=delay_s)
        assert status == -signal.SIGKILL, f"the batch finished before it could be killed {where}"
        _assert_outputs_whole(out)
        for call_id, mtime in done_before.items():
            assert _json_files(out)[call_id].stat().st_mtime_ns == mtime, f"{call_id} was analysed again"
    assert len(_json_files(out)) == N_CALLS and (out / "calls.csv").exists()

    done_before = {call_id: path.stat().st_mtime_ns for call_id, path in _json_files(out).items()}
    proc = subprocess.run(_command(call_folder, out), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    analysed, skipped = _summary_counts(proc.stderr)
    assert (analysed, skipped) == (N_CALLS - len(done_before), len(done_before)), "exactly the missing calls"
    for call_id, mtime in done_before.items():
        assert _json_files(out)[call_id].stat().st_mtime_ns == mtime, f"{call_id} was analysed again"
    _assert_outputs_whole(out)

    ours, theirs = _json_files(out), _json_files(reference)
    assert set(ours) == set(theirs) and len(ours) == N_CALLS
    for call_id in ours:
        mine = _comparable(json.loads(ours[call_id].read_text()))
        expected = _comparable(json.loads(theirs[call_id].read_text()))
        assert mine == expected, call_id
    for name in ("calls.csv", "turns.csv"):
        assert (out / name).read_text() == (reference / name).read_text(), name
    for name in ("calls.parquet", "turns.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / name), pd.read_parquet(reference / name))
    with sqlite3.connect(out / "results.sqlite") as mine, sqlite3.connect(reference / "results.sqlite") as ref:
        query = "SELECT call_id, content_sha256, params_digest, mode FROM calls ORDER BY call_id"
        assert mine.execute(query).fetchall() == ref.execute(query).fetchall()
        query = "SELECT call_id, name, value FROM metrics ORDER BY call_id, name"
        assert mine.execute(query).fetchall() == ref.execute(query).fetchall()
        query = "SELECT call_id, turn_index, speaker, start_s, end_s FROM turns ORDER BY call_id, turn_index"
        assert mine.execute(query).fetchall() == ref.execute(query).fetchall()
    assert not list(out.rglob(".*.tmp")), "temporary files of killed runs are cleaned up"
    assert (out / "index.html").exists()
