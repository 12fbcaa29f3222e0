"""Batch safety: ids that cannot collide, a batch that survives its workers and signals, concurrent runs
into one --out, outputs that mirror the inputs, and the exit codes of the README (real processes, real signals).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from analyzer.batch import analyze_files, discover
from analyzer.outputs.writers import NAME_MAX_BYTES, PATH_MAX_BYTES

REPO = Path(__file__).resolve().parents[1]
WORKER = "ca-worker"


@pytest.fixture(scope="module")
def short_call(speech_clips):
    """A ~6 s two-party stereo call (16 kHz), the cheapest real call to analyse."""
    from conftest import two_party_stereo

    stereo, _ = two_party_stereo(speech_clips[:1], speech_clips[3:4])
    return stereo * 0.5


@pytest.fixture(scope="module")
def ten_calls(tmp_path_factory, speech_clips):
    """10 real-speech stereo calls (~6 s each) in one folder."""
    from conftest import two_party_stereo

    stereo, _ = two_party_stereo(speech_clips[:1], speech_clips[3:4])
    folder = tmp_path_factory.mktemp("ten") / "calls"
    folder.mkdir()
    for i in range(10):
        sf.write(folder / f"c{i}.wav", stereo * 0.5 * (1 - 0.01 * i), 16000)
    return folder


def _cli(*args: str, **kwargs) -> list[str]:
    return [sys.executable, "-m", "analyzer", "analyze", *args, "--quiet", "--no-emotion", "--no-html"]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, env=_env(), **kwargs)


def _workers_of(pid: int) -> list[int]:
    """Pool workers (named ``ca-worker``) whose parent is ``pid``, from the process table."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if name == WORKER and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _json_ids(out: Path) -> list[str]:
    return sorted(json.loads(p.read_text())["call_id"] for p in (out / "calls").rglob("*.json"))


def _db_ids(out: Path) -> list[str]:
    with sqlite3.connect(out / "results.sqlite") as conn:
        return sorted(row[0] for row in conn.execute("SELECT call_id FROM calls"))


def _errors(out: Path) -> dict[str, str]:
    with open(out / "errors.csv", newline="") as handle:
        return {row["call_id"]: row["reason"] for row in csv.DictReader(handle)}


def _wait_for(condition, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ---- ids that cannot collide -------------------------------------------------------------------


def test_two_roots_with_the_same_relative_names_get_two_ids_and_keep_both_results(tmp_path, short_call, fast_config):
    for sub in ("north", "south"):
        (tmp_path / "col" / sub).mkdir(parents=True)
        sf.write(tmp_path / "col" / sub / "call.wav", short_call * (0.9 if sub == "north" else 1.0), 16000)
    roots = [tmp_path / "col" / "north", tmp_path / "col" / "south"]
    assert [t.call_id for t in discover(roots)] == ["north/call", "south/call"]
    out = tmp_path / "out"
    summary = analyze_files(roots, fast_config, out_dir=out, progress=False, html=False)
    assert len(summary.analysed) == 2 and _json_ids(out) == _db_ids(out) == ["north/call", "south/call"]
    paths = {json.loads(p.read_text())["path"] for p in (out / "calls").rglob("*.json")}
    assert paths == {str((r / "call.wav").resolve()) for r in roots}, "each result records its absolute source"


def test_runs_from_different_roots_into_one_out_keep_both_results(tmp_path, short_call, fast_config):
    for root in ("A", "B"):
        (tmp_path / root).mkdir()
        sf.write(tmp_path / root / "x.wav", short_call, 16000)  # identical content: still two files
    out = tmp_path / "R"
    first = analyze_files([tmp_path / "A"], fast_config, out_dir=out, progress=False, html=False)
    second = analyze_files([tmp_path / "B"], fast_config, out_dir=out, progress=False, html=False)
    assert first.analysed == ["x"] and second.analysed == ["x.wav"] and second.skipped == []
    assert _json_ids(out) == _db_ids(out) == ["x", "x.wav"]
    stored = {json.loads(p.read_text())["call_id"]: json.loads(p.read_text())["path"] for p in (out / "calls").rglob("*.json")}
    assert stored == {"x": str(tmp_path / "A" / "x.wav"), "x.wav": str(tmp_path / "B" / "x.wav")}
    # each id stays with its file on re-runs, whichever root comes first
    again = analyze_files([tmp_path / "B", tmp_path / "A"], fast_config, out_dir=out, progress=False, html=False)
    assert sorted(again.skipped) == ["x", "x.wav"] and again.analysed == []


ODD_NAMES = ["a.wav", "a.flac", "a.wav.flac", "a\nb.wav", "a_b.wav", unicodedata.normalize("NFC", "café.wav"),
             unicodedata.normalize("NFD", "café.wav"), ".hidden/x.wav", "hidden/x.wav", "d.wav", "d.json/y.wav"]


def test_odd_names_in_one_folder_each_get_their_own_id_and_result(tmp_path, short_call, fast_config):
    folder = tmp_path / "in"
    for name in ODD_NAMES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(folder / name, short_call, 16000, format="WAV" if name.endswith(".wav") else "FLAC")
    assert len(set(os.listdir(folder))) == 11, "the filesystem keeps NFC and NFD names apart"
    tasks = discover([folder])
    assert len(tasks) == len(ODD_NAMES) == len({t.call_id for t in tasks})
    ids = {Path(t.path).relative_to(folder).as_posix(): t.call_id for t in tasks}
    assert ids["hidden/x.wav"] == "hidden/x" and ids[".hidden/x.wav"].startswith("hidden/x~")
    assert ids["café.wav"] == "café" and ids[unicodedata.normalize("NFD", "café.wav")].startswith("café~")
    assert ids["a_b.wav"] == "a_b" and ids["a\nb.wav"].startswith("a_b~")
    out = tmp_path / "out"
    summary = analyze_files([folder], fast_config, out_dir=out, progress=False, html=False)
    assert summary.exit_code == 0 and len(summary.analysed) == len(ODD_NAMES)
    assert _json_ids(out) == _db_ids(out) == sorted(ids.values())
    assert len(pd.read_csv(out / "calls.csv")) == len(ODD_NAMES)


def test_the_same_file_given_twice_is_analysed_once(tmp_path, short_call, fast_config):
    clips = tmp_path / "clips"
    clips.mkdir()
    sf.write(clips / "c0.wav", short_call, 16000)
    summary = analyze_files([clips, clips / "c0.wav", tmp_path / "clips" / ".." / "clips" / "c0.wav"], fast_config,
                            out_dir=tmp_path / "out", progress=False, html=False)
    assert summary.analysed == ["c0"]


def test_long_names_stay_within_name_max_and_keep_the_full_id_inside(tmp_path, short_call, fast_config):
    stem = "通話記録" * 20  # 80 CJK characters = 240 bytes, a legal file name
    assert len(stem.encode()) == 240
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / f"{stem}.wav", short_call, 16000)
    out = tmp_path / "out"
    summary = analyze_files([folder], fast_config, out_dir=out, progress=False)
    assert summary.analysed == [stem] and summary.exit_code == 0
    for path in out.rglob("*"):
        assert len(path.name.encode()) <= NAME_MAX_BYTES
    assert _json_ids(out) == [stem]


def test_a_too_long_out_is_refused_up_front_and_deep_ids_stay_within_path_max(tmp_path, short_call, fast_config):
    folder = tmp_path / "in"
    (folder / ("d" * 200) / ("e" * 200)).mkdir(parents=True)
    sf.write(folder / ("d" * 200) / ("e" * 200) / ("n" * 200 + ".wav"), short_call, 16000)
    deep = folder / "/".join(["d" * 200] * 17)  # 3417 bytes inside the input: with --out beside it, past PATH_MAX
    deep.mkdir(parents=True)
    sf.write(tmp_path / "short.wav", short_call, 16000)
    os.rename(tmp_path / "short.wav", deep / ("n" * 200 + ".wav"))
    out = tmp_path / "/".join(["o" * 100] * 4)  # a 470-byte --out: about the longest the database allows
    summary = analyze_files([folder], fast_config, out_dir=out, progress=False)
    assert len(summary.analysed) == 2 and summary.exit_code == 0
    assert all(len(str(p).encode()) < PATH_MAX_BYTES for p in out.rglob("*"))
    assert len(list((out / "calls" / "~long").glob("*.json"))) == 1, "the deep id's JSON goes flat, hash-named"
    assert sorted(len(i.encode()) for i in _json_ids(out)) == [602, 3617], "the JSON files keep the full ids"
    too_long = tmp_path / "/".join(["o" * 250] * 3)
    proc = _run(_cli(str(folder), "--out", str(too_long)))
    assert proc.returncode == 1 and "shorter --out" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_output_paths_of_long_ids_are_shortened_with_a_hash_and_stay_injective():
    from analyzer.outputs.writers import REL_MAX_BYTES, output_relpath

    long_part = "x" * 300
    one, two = output_relpath(long_part + "a", ".json"), output_relpath(long_part + "b", ".json")
    assert one != two and all(len(p.encode()) <= 255 for p in one.split("/"))
    flat = output_relpath("/".join(["d" * 200] * 20), ".json")
    assert flat.startswith("~long/") and len(flat.encode()) < REL_MAX_BYTES
    assert output_relpath("d.json/x", ".json") == "d.json_/x.json" != output_relpath("d.json_/x", ".json")


# ---- a batch survives its workers --------------------------------------------------------------


def test_a_killed_worker_costs_only_its_call_and_the_batch_goes_on(ten_calls, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(_cli(str(ten_calls), "--out", str(out), "--jobs", "2"), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (out / "calls").is_dir() and any((out / "calls").glob("*.json")))
    victims = _workers_of(proc.pid)
    assert 1 <= len(victims) <= 2
    os.kill(victims[0], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, stderr
    assert len(_json_ids(out)) >= 9 and _json_ids(out) == _db_ids(out)
    errors = _errors(out)
    assert len(errors) == 1
    (reason,) = errors.values()
    assert "worker died (signal 9, possibly out of memory)" in reason and "Traceback" not in stderr
    # the next run retries the one call, and it succeeds
    again = _run(_cli(str(ten_calls), "--out", str(out), "--jobs", "2"))
    assert again.returncode == 0 and "1 analysed, 9 already up to date" in again.stderr
    assert _errors(out) == {} and len(_json_ids(out)) == 10


def test_a_call_that_killed_workers_twice_is_not_retried_again(tmp_path, short_call, fast_config):
    from analyzer.outputs import writers

    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "bomb.wav", short_call, 16000)
    out = tmp_path / "out"
    path = str(folder / "bomb.wav")
    stat = os.stat(path)
    writers.write_failure(out, {"call_id": "bomb", "path": path, "reason": f"{path}: killed its worker in 2 runs",
                                "worker_deaths": 2, "file_size": stat.st_size, "file_mtime_ns": stat.st_mtime_ns,
                                "params_digest": fast_config.digest(), "at": 0.0})
    summary = analyze_files([folder], fast_config, out_dir=out, progress=False, html=False)
    assert summary.analysed == [] and summary.exit_code == 2 and "killed its worker" in summary.errors[0]["reason"]
    forced = analyze_files([folder], fast_config, out_dir=out, progress=False, html=False, resume=False)
    assert forced.analysed == ["bomb"] and _errors(out) == {}


def _batch_with_two_busy_workers(folder: Path, out: Path) -> tuple[subprocess.Popen, list[int]]:
    """A ``--jobs 2`` batch in its own process group, once both workers run; returns (process, worker pids)."""
    proc = subprocess.Popen(_cli(str(folder), "--out", str(out), "--jobs", "2"), env=_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: len(_workers_of(proc.pid)) == 2)
    return proc, _workers_of(proc.pid)


def test_sigterm_to_the_parent_stops_every_worker_and_exits_143(ten_calls, tmp_path):
    out = tmp_path / "out"
    proc, workers = _batch_with_two_busy_workers(ten_calls, out)
    proc.send_signal(signal.SIGTERM)  # to the parent only, as systemd or a scheduler would
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Traceback" not in stderr and "re-run the same command to resume" in stderr
    _wait_for(lambda: not any(_alive(pid) for pid in workers) and not _group_members(proc.pid), timeout_s=10)
    # resumable: the next run finishes the job
    again = _run(_cli(str(ten_calls), "--out", str(out), "--jobs", "2"))
    assert again.returncode == 0 and len(_json_ids(out)) == 10


def test_kill_9_of_the_parent_takes_its_workers_with_it(ten_calls, tmp_path):
    proc, workers = _batch_with_two_busy_workers(ten_calls, tmp_path / "out")
    proc.kill()
    proc.communicate(timeout=30)
    _wait_for(lambda: not any(_alive(pid) for pid in workers), timeout_s=10)


def test_ctrl_c_to_the_process_group_exits_130_without_worker_tracebacks(ten_calls, tmp_path):
    proc, workers = _batch_with_two_busy_workers(ten_calls, tmp_path / "out")
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    _wait_for(lambda: not any(_alive(pid) for pid in workers) and not _group_members(proc.pid), timeout_s=10)


def test_jobs_1000_on_3_files_never_starts_more_than_3_workers(ten_calls, tmp_path):
    folder = tmp_path / "three"
    folder.mkdir()
    for i in range(3):
        (folder / f"c{i}.wav").write_bytes((ten_calls / f"c{i}.wav").read_bytes())
    proc = subprocess.Popen(_cli(str(folder), "--out", str(tmp_path / "out"), "--jobs", "1000"), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    most = 0
    while proc.poll() is None:
        most = max(most, len(_workers_of(proc.pid)))
        time.sleep(0.01)
    stderr = proc.stderr.read()
    assert proc.returncode == 0, stderr
    assert 1 <= most <= 3
    assert "--jobs 1000 capped to" in stderr


def test_workers_do_not_import_torch_when_no_stage_needs_it(tmp_path, short_call):
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "c.wav", short_call, 16000)
    code = (
        "import sys\n"
        "from analyzer.batch import _engine_task, _init_worker, discover\n"
        "from analyzer.config import AnalysisConfig\n"
        "cfg = AnalysisConfig().replace(emotion={'enabled': False})\n"
        "_init_worker(1)\n"
        f"out = _engine_task(discover([{str(folder)!r}])[0], cfg.to_dict(), False)\n"
        "assert 'ok' in out, out\n"
        "print('torch' in sys.modules)\n"
    )
    proc = _run([sys.executable, "-c", code])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


# ---- concurrent runs, outputs that mirror the inputs -------------------------------------------


def test_two_concurrent_runs_into_one_out_do_not_crash_and_agree(ten_calls, tmp_path):
    folder = tmp_path / "four"
    folder.mkdir()
    for i in range(4):
        (folder / f"c{i}.wav").write_bytes((ten_calls / f"c{i}.wav").read_bytes())
    out = tmp_path / "out"
    procs = [subprocess.Popen(_cli(str(folder), "--out", str(out)), env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert any("waiting for it to finish" in err for err in results), "the second run waited for the first"
    assert _json_ids(out) == _db_ids(out) == [f"c{i}" for i in range(4)]
    assert sorted(pd.read_csv(out / "calls.csv")["call_id"]) == [f"c{i}" for i in range(4)]
    assert not list(out.rglob(".*.tmp"))


@pytest.fixture
def analysed_out(tmp_path, short_call, fast_config):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        sf.write(folder / f"c{i}.wav", short_call * (1 - 0.05 * i), 16000)
    out = tmp_path / "out"
    assert analyze_files([folder], fast_config, out_dir=out, progress=False, html=False).exit_code == 0
    return folder, out


def test_a_damaged_database_is_rebuilt_with_a_warning(analysed_out, fast_config):
    folder, out = analysed_out
    db = out / "results.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.write_bytes(db.read_bytes()[:3000])  # truncated: 'database disk image is malformed'
    notes = []
    summary = analyze_files([folder], fast_config, out_dir=out, progress=False, html=False, on_note=notes.append)
    assert summary.exit_code == 0 and len(summary.skipped) == 3
    assert any("damaged database" in n and "rebuilt" in n for n in notes), notes
    assert _db_ids(out) == ["c0", "c1", "c2"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0] > 0


def test_a_deleted_database_is_rebuilt_from_the_json_files(analysed_out, fast_config):
    folder, out = analysed_out
    for suffix in ("", "-wal", "-shm"):
        Path(str(out / "results.sqlite") + suffix).unlink(missing_ok=True)
    summary = analyze_files([folder], fast_config, out_dir=out, progress=False, html=False)
    assert len(summary.skipped) == 3 and _db_ids(out) == ["c0", "c1", "c2"]


def test_foreign_files_in_calls_are_skipped_with_a_warning_naming_them(analysed_out, fast_config):
    folder, out = analysed_out
    (out / "calls" / "zz.json").write_text('{"call_id": "zz"}')
    (out / "calls" / "n.json").write_text("42")
    (out / "calls" / "dir.json").mkdir()
    (out / "calls" / "bad.json").write_text("{not json")
    notes = []
    summary = analyze_files([folder], fast_config, out_dir=out, progress=False, html=True, on_note=notes.append)
    assert summary.exit_code == 0
    for name in ("zz.json", "n.json", "dir.json", "bad.json"):
        assert any(str(out / "calls" / name) in n for n in notes), (name, notes)
    assert sorted(pd.read_csv(out / "calls.csv")["call_id"]) == _db_ids(out) == ["c0", "c1", "c2"]


def test_results_of_gone_or_now_failing_files_are_marked_stale(analysed_out, fast_config):
    folder, out = analysed_out
    (folder / "c1.wav").unlink()
    (folder / "c2.wav").write_bytes(b"RIFF not audio any more")
    summary = analyze_files([folder], fast_config, out_dir=out, progress=False, html=False)
    assert summary.exit_code == 2 and [e["call_id"] for e in summary.errors] == ["c2"]
    status = pd.read_csv(out / "calls.csv").set_index("call_id")["status"].to_dict()
    assert status == {"c0": "current", "c1": "stale_source_gone", "c2": "stale_now_failing"}
    with sqlite3.connect(out / "results.sqlite") as conn:
        assert dict(conn.execute("SELECT call_id, status FROM calls")) == status
    assert list(_errors(out)) == ["c2"]


def test_errors_csv_lists_every_failing_file_of_the_folder_not_only_the_last_runs(tmp_path, short_call, fast_config):
    for root in ("A", "B"):
        (tmp_path / root).mkdir()
        sf.write(tmp_path / root / f"{root}good.wav", short_call, 16000)
        (tmp_path / root / f"{root}bad.wav").write_bytes(b"")
    out = tmp_path / "out"
    analyze_files([tmp_path / "A"], fast_config, out_dir=out, progress=False, html=False)
    analyze_files([tmp_path / "B"], fast_config, out_dir=out, progress=False, html=False)
    assert sorted(_errors(out)) == ["Abad", "Bbad"]
    (tmp_path / "A" / "Abad.wav").unlink()  # a failing file that is gone leaves errors.csv
    analyze_files([tmp_path / "B"], fast_config, out_dir=out, progress=False, html=False)
    assert sorted(_errors(out)) == ["Bbad"]


# ---- exit codes (README table) -----------------------------------------------------------------


def _exit_code(args: list[str]) -> int:
    """``call-analyzer ARGS`` in this process: its return value, or the code argparse exits with."""
    from analyzer.cli import main

    try:
        return main(args)
    except SystemExit as exc:
        return int(exc.code)


def test_exit_0_when_every_file_is_analysed_or_up_to_date_and_double_dash_ends_options(tmp_path, short_call,
                                                                                       monkeypatch, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "--out=x.wav", short_call, 16000)
    sf.write(folder / "c0.wav", short_call, 16000)
    monkeypatch.chdir(folder)
    args = ["analyze", "--out", str(tmp_path / "out"), "--quiet", "--no-emotion", "--no-html", "--", "--out=x.wav", "c0.wav"]
    assert _exit_code(args) == 0 and "2 analysed" in capsys.readouterr().err
    assert _exit_code(args) == 0 and "2 already up to date" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["analyze", "--out"], "expected one argument"),
    (["analyze", "IN", "--out", "OUT", "--jobs", "0"], "--jobs must be a whole number of at least 1"),
    (["analyze", "IN", "--out", "OUT", "--jobs", "-3"], "--jobs must be a whole number of at least 1"),
    (["analyze", "/nonexistent/recordings", "--out", "OUT"], "no such file or folder: /nonexistent/recordings"),
    (["compare", "OUT", "--by-folder", "--out", "REPORT"], "results folder not found"),
    (["score", "OUT"], "results folder not found"),
    (["frobnicate"], "invalid choice"),
])
def test_exit_1_for_bad_usage_in_every_subcommand(tmp_path, capsys, args, message):
    (tmp_path / "IN").mkdir()
    args = [str(tmp_path / a) if a in ("IN", "OUT", "REPORT") else a for a in args]
    assert _exit_code(args) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_exit_2_when_some_files_failed(tmp_path, short_call, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "good.wav", short_call, 16000)
    (folder / "empty.wav").write_bytes(b"")
    assert _exit_code(["analyze", str(folder), "--out", str(tmp_path / "out"), "--quiet", "--no-emotion"]) == 2
    assert "1 failed" in capsys.readouterr().err


def test_exit_3_when_the_inputs_hold_no_audio(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no audio here")
    assert _exit_code(["analyze", str(tmp_path / "empty"), "--out", str(tmp_path / "out"), "--quiet"]) == 3
    assert "nothing to analyse" in capsys.readouterr().err


def test_compare_rejects_conflicting_labels_and_warns_about_labels_without_a_result(tmp_path, capsys):
    from result_factory import make_result, write_results

    write_results(tmp_path / "res", [make_result(f"a{i}", agent_latency_s=0.5 + 0.1 * i) for i in range(4)])
    labels = tmp_path / "labels.csv"
    labels.write_text("call_id,outcome\na0,won\na0.wav,lost\na1,lost\n")
    base = ["compare", str(tmp_path / "res"), "--labels", str(labels), "--out", str(tmp_path / "rep"), "--n-boot", "10"]
    assert _exit_code(base) == 1
    assert "'a0' = 'won' and 'a0.wav' = 'lost'" in capsys.readouterr().err
    labels.write_text("call_id,outcome\na0,won\na1,lost\na2,won\na3,lost\nghost,won\n")
    assert _exit_code(base) == 0
    err = capsys.readouterr().err
    assert "1 label(s)" in err and "match no result" in err and "ghost" in err


def test_ctrl_c_under_a_local_dask_cluster_prints_one_line_and_leaves_no_worker(ten_calls, tmp_path):
    pytest.importorskip("distributed", reason="the 'cluster' extra (dask[distributed]) is not installed")
    out = tmp_path / "out"
    proc = subprocess.Popen(_cli(str(ten_calls), "--out", str(out), "--scheduler", "local:2"), env=_env(),
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (out / "calls").is_dir() and any((out / "calls").glob("*.json")))
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    lines = stderr.strip().splitlines()
    assert lines[-1] == "interrupted: results written so far are kept; re-run the same command to resume"
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr  # (was ~67 lines of them)
    _wait_for(lambda: not _group_members(proc.pid), timeout_s=10)  # no Dask worker outlives the run


def test_emotion_subcommand_exits_1_for_a_bad_model_and_2_when_a_file_fails(tmp_path, capsys):
    assert _exit_code(["emotion", str(tmp_path / "x.wav"), "--model", str(tmp_path / "no-model")]) == 1
    assert "error: " in capsys.readouterr().err
    assert _exit_code(["emotion", str(tmp_path / "missing.wav")]) == 2
    assert "missing.wav" in capsys.readouterr().err
