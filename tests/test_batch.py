"""Batch runs: call ids, outputs per SPEC, resume, SQLite updated in place, worker processes."""

import json
import sqlite3

import pandas as pd
import pytest
import soundfile as sf

from analyzer.batch import analyze_files, discover, sanitize_call_id
from analyzer.outputs.writers import neutralise_csv_cell
from analyzer.result import CallResult


@pytest.fixture
def call_tree(tmp_path, speech_clips):
    from conftest import two_party_stereo

    stereo, _ = two_party_stereo(speech_clips[:2], speech_clips[3:5])
    root = tmp_path / "recordings"
    for sub in ("north", "south"):
        (root / sub).mkdir(parents=True)
        sf.write(root / sub / "call.wav", stereo * 0.5, 16000)
    sf.write(root / "south" / "other.flac", stereo[:, ::-1] * 0.5, 16000)
    (root / "south" / "readme.txt").write_text("not audio, not picked up from folders")
    return root


def test_call_ids_are_relative_paths_without_extension_and_do_not_collide(call_tree):
    tasks = discover([call_tree])
    assert [t.call_id for t in tasks] == ["north/call", "south/call", "south/other"]


def test_files_given_directly_are_named_relative_to_their_common_folder(call_tree):
    tasks = discover([call_tree / "north" / "call.wav", call_tree / "south" / "call.wav"])
    assert [t.call_id for t in tasks] == ["north/call", "south/call"]
    assert [t.call_id for t in discover([call_tree / "north" / "call.wav"])] == ["call"]


def test_same_name_with_different_extensions_keep_their_extension(tmp_path, call_tree):
    (call_tree / "north" / "call.flac").write_bytes((call_tree / "north" / "call.wav").read_bytes())
    ids = [t.call_id for t in discover([call_tree / "north"])]
    assert ids == ["call.flac", "call.wav"]


@pytest.mark.parametrize("raw,clean", [
    ("../../etc/passwd", "etc/passwd"),
    ("/abs/path/x", "abs/path/x"),
    ("a/./b/../c", "a/b/c"),
    ("..\\..\\win", "win"),
    ("bad\x00name\nx", "bad_name_x"),
    ("", "call"),
])
def test_call_ids_are_sanitised_so_outputs_never_escape_the_output_folder(raw, clean):
    assert sanitize_call_id(raw) == clean


def test_batch_writes_every_output_of_the_spec(call_tree, tmp_path, fast_config):
    out = tmp_path / "out"
    summary = analyze_files([call_tree], fast_config, out_dir=out, progress=False)
    assert summary.exit_code == 0 and len(summary.analysed) == 3
    for name in ("calls.csv", "calls.parquet", "turns.csv", "turns.parquet", "errors.csv", "results.sqlite"):
        assert (out / name).exists(), name
    data = json.loads((out / "calls" / "south" / "call.json").read_text())
    assert data["schema"] == "call-analyzer/call/1"
    assert data["call_id"] == "south/call"
    for key in ("path", "duration_s", "mode", "params", "metrics", "turns", "segments", "events", "emotion", "qa"):
        assert key in data
    assert data["params"]["turns"]["dead_air_s"] == 5.0 and data["versions"]["call_analyzer"]
    calls = pd.read_parquet(out / "calls.parquet")
    assert sorted(calls["call_id"]) == ["north/call", "south/call", "south/other"]
    assert "agent_latency_median_s" in calls.columns
    turns = pd.read_csv(out / "turns.csv")
    assert set(turns["call_id"]) == set(calls["call_id"]) and len(turns) == 12
    # the swapped-channel copy has the roles the other way round
    other = calls.set_index("call_id")
    assert other.loc["south/other", "talk_ratio_agent"] == pytest.approx(1 - other.loc["south/call", "talk_ratio_agent"], abs=0.02)


def test_rerun_skips_finished_calls_and_reanalyses_changed_files_and_parameters(call_tree, tmp_path, fast_config):
    out = tmp_path / "out"
    analyze_files([call_tree], fast_config, out_dir=out, progress=False)
    again = analyze_files([call_tree], fast_config, out_dir=out, progress=False)
    assert again.analysed == [] and len(again.skipped) == 3
    # changed content -> re-analysed
    data, rate = sf.read(call_tree / "north" / "call.wav")
    sf.write(call_tree / "north" / "call.wav", data * 0.9, rate)
    changed = analyze_files([call_tree], fast_config, out_dir=out, progress=False)
    assert changed.analysed == ["north/call"]
    # changed parameters -> everything re-analysed
    other = fast_config.replace(turns={"dead_air_s": 4.0})
    assert len(analyze_files([call_tree], other, out_dir=out, progress=False).analysed) == 3
    # force: resume off
    assert len(analyze_files([call_tree], other, out_dir=out, progress=False, resume=False).analysed) == 3


def test_database_is_updated_in_place_by_repeated_runs(call_tree, tmp_path, fast_config):
    out = tmp_path / "out"
    analyze_files([call_tree], fast_config, out_dir=out, progress=False)
    changed = fast_config.replace(turns={"dead_air_s": 4.0})
    analyze_files([call_tree], changed, out_dir=out, progress=False)
    with sqlite3.connect(out / "results.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 3
        digests = {row[0] for row in conn.execute("SELECT params_digest FROM calls")}
        assert digests == {changed.digest()}
        n_turns = conn.execute("SELECT COUNT(*) FROM turns WHERE call_id='north/call'").fetchone()[0]
        latency = conn.execute(
            "SELECT value FROM metrics WHERE call_id='north/call' AND name='agent_latency_median_s'").fetchone()[0]
    assert n_turns == 4 and latency > 0


def test_parallel_jobs_give_the_same_results_as_one_process(call_tree, tmp_path, fast_config):
    one = analyze_files([call_tree], fast_config, progress=False).results
    two = analyze_files([call_tree], fast_config, progress=False, jobs=2).results
    assert all(isinstance(r, CallResult) for r in one + two)  # the same result type as analyze_file
    key = lambda r: r.call_id  # noqa: E731
    assert [r.metrics for r in sorted(one, key=key)] == [r.metrics for r in sorted(two, key=key)]


@pytest.mark.parametrize("value,expected", [
    ("=HYPERLINK(1)", "'=HYPERLINK(1)"), ("+1", "'+1"), ("-cmd", "'-cmd"), ("@x", "'@x"),
    ("normal", "normal"), (-1.5, -1.5), (3, 3),
])
def test_csv_cells_that_look_like_formulas_are_neutralised(value, expected):
    assert neutralise_csv_cell(value) == expected


def test_formula_like_call_ids_are_neutralised_in_the_csv_tables(tmp_path, speech_clips, fast_config):
    from conftest import two_party_stereo

    stereo, _ = two_party_stereo(speech_clips[:2], speech_clips[3:5])
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "=HYPERLINK(1).wav", stereo * 0.5, 16000)
    out = tmp_path / "out"
    analyze_files([folder], fast_config, out_dir=out, progress=False, html=False)
    for table in ("calls.csv", "turns.csv"):
        text = (out / table).read_text()
        assert "'=HYPERLINK(1)" in text and ",=HYPERLINK" not in text and not text.startswith("=")
    assert pd.read_parquet(out / "calls.parquet")["call_id"].tolist() == ["=HYPERLINK(1)"], "parquet keeps the real id"


def test_outputs_are_readable_by_others_like_any_file_the_user_creates(call_tree, tmp_path, fast_config):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        out = tmp_path / "out"
        analyze_files([call_tree], fast_config, out_dir=out, progress=False)
    finally:
        os.umask(mask)
    for name in ("calls.csv", "calls.parquet", "turns.csv", "errors.csv", "calls/north/call.json"):
        mode = stat.S_IMODE((out / name).stat().st_mode)
        assert mode == 0o644, (name, oct(mode))


def test_threads_per_job_are_one_unless_asked_for():
    from analyzer.batch import threads_per_job

    assert threads_per_job(environ={}) == 1
    assert threads_per_job(environ={"OMP_NUM_THREADS": "3"}) == 3  # the usual variable is honoured
    assert threads_per_job(environ={"OMP_NUM_THREADS": "lots"}) == 1
    assert threads_per_job(2, environ={"OMP_NUM_THREADS": "3"}) == 2  # an explicit --threads wins


def _threads_seen(task, config, *, debug=False, model=None):
    """Stands in for run_task: the compute threads the call would run with."""
    import os

    import torch
    from threadpoolctl import threadpool_info

    blas = {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
    return {"task": task, "torch": torch.get_num_threads(), "env": os.environ.get("OMP_NUM_THREADS"), "blas": blas}


def test_each_engine_runs_its_calls_with_the_threads_of_the_rule(monkeypatch, fast_config):
    import os

    import torch
    from threadpoolctl import threadpool_info

    from analyzer import batch

    monkeypatch.setattr(batch, "run_task", _threads_seen)
    for name in batch.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    tasks = [batch.CallTask(f"/no/such/call{i}.wav", f"call{i}") for i in range(4)]
    seen = list(batch.run_tasks(tasks, fast_config, jobs=2))  # two workers: one thread each
    assert {(s["torch"], s["env"]) for s in seen} == {(1, "1")} and all(s["blas"] <= {1} for s in seen)
    seen = list(batch.run_tasks(tasks, fast_config, jobs=2, threads=2))
    assert {(s["torch"], s["env"]) for s in seen} == {(2, "2")}
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    pools = [pool["num_threads"] for pool in threadpool_info()]
    try:
        seen = list(batch.run_tasks(tasks, fast_config, jobs=1))  # the serial engine: one thread too
        assert {(s["torch"], s["env"]) for s in seen} == {(1, "1")} and all(s["blas"] <= {1} for s in seen)
        # it runs in the caller's process: its thread settings are put back after the run
        assert torch.get_num_threads() == 2 and "OMP_NUM_THREADS" not in os.environ
        assert [pool["num_threads"] for pool in threadpool_info()] == pools
    finally:
        torch.set_num_threads(before)


def test_threads_must_be_a_whole_number_of_at_least_one(call_tree, fast_config):
    from analyzer.errors import ConfigError

    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="--threads must be a whole number"):
            analyze_files([call_tree], fast_config, threads=bad)


def test_the_serial_engines_emotion_model_is_released_before_the_outputs_are_finalised(monkeypatch, call_tree, tmp_path,
                                                                                         fast_config):
    from analyzer import batch

    seen = {}
    finalize = batch.finalize_outputs

    def finalize_and_look(*args, **kwargs):
        seen["models"] = dict(batch._WORKER.get("models") or {})
        return finalize(*args, **kwargs)

    monkeypatch.setitem(batch._WORKER, "models", {"open": object()})  # as the serial engine leaves its cache
    monkeypatch.setattr(batch, "finalize_outputs", finalize_and_look)
    analyze_files([call_tree], fast_config, out_dir=tmp_path / "out")
    assert seen == {"models": {}}
    batch.release_models()  # nothing cached: a no-op
