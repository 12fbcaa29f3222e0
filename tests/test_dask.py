"""Scale-out on Dask: a real LocalCluster of two worker processes gives the same outputs as local mode."""

from __future__ import annotations

import contextlib
import json
import signal

import pandas as pd
import pytest
import soundfile as sf

distributed = pytest.importorskip("distributed", reason="the 'cluster' extra (dask[distributed]) is not installed")

from analyzer.batch import analyze_files  # noqa: E402
from analyzer.cli import main  # noqa: E402
from analyzer.errors import ConfigError  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory, speech_clips):
    from conftest import two_party_stereo

    root = tmp_path_factory.mktemp("dask") / "calls"
    (root / "east").mkdir(parents=True)
    (root / "west").mkdir(parents=True)
    for index in range(3):
        stereo, _ = two_party_stereo(speech_clips[index : index + 2], speech_clips[3 + index % 2 : 5 + index % 2],
                                     gap_s=0.4 + 0.2 * index)
        sf.write(root / ("east" if index % 2 else "west") / f"call_{index}.wav", stereo * 0.5, 16000)
    sf.write(root / "west" / "mono.flac", stereo.mean(axis=1) * 0.5, 16000)
    (root / "east" / "broken.wav").write_text("not audio")
    return root


@pytest.fixture(scope="module")
def cluster():
    import dask
    from dask.distributed import LocalCluster

    dask.config.set({"distributed.comm.timeouts.connect": "120s", "distributed.comm.timeouts.tcp": "120s"})
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as running:
        yield running


def _outputs(out):
    calls = {}
    for path in sorted((out / "calls").rglob("*.json")):
        result = json.loads(path.read_text())
        result.pop("timings_s")
        result.pop("analysed_at")
        calls[result["call_id"]] = result
    return calls


def test_cluster_of_two_worker_processes_gives_the_same_outputs_as_local_mode(folder, cluster, tmp_path, fast_config):
    local = analyze_files([folder], fast_config, out_dir=tmp_path / "local", progress=False)
    remote = analyze_files([folder], fast_config, out_dir=tmp_path / "dask", progress=False,
                           scheduler=cluster.scheduler_address)
    assert sorted(remote.analysed) == sorted(local.analysed) and len(remote.analysed) == 4
    assert remote.errors == local.errors and remote.exit_code == 2
    assert _outputs(tmp_path / "dask") == _outputs(tmp_path / "local")
    for name in ("calls.csv", "turns.csv", "errors.csv"):
        assert (tmp_path / "dask" / name).read_text() == (tmp_path / "local" / name).read_text(), name
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "dask" / "turns.parquet"),
                                  pd.read_parquet(tmp_path / "local" / "turns.parquet"))
    assert len(cluster.workers) == 2


def test_cluster_runs_resume_like_local_runs(folder, cluster, tmp_path, fast_config):
    out = tmp_path / "out"
    analyze_files([folder], fast_config, out_dir=out, progress=False)
    (out / "calls" / "west" / "call_0.json").unlink()
    again = analyze_files([folder], fast_config, out_dir=out, progress=False, scheduler=cluster.scheduler_address)
    assert again.analysed == ["west/call_0"] and len(again.skipped) == 3


def test_cli_local_scheduler_starts_a_cluster_for_the_run(folder, tmp_path, capsys):
    code = main(["analyze", str(folder / "west"), "--out", str(tmp_path / "o"), "--scheduler", "local:2",
                 "--no-emotion", "--quiet", "--no-html"])
    assert code == 0, capsys.readouterr().err
    assert len(list((tmp_path / "o" / "calls").rglob("*.json"))) == 3


def test_emotion_model_is_loaded_on_the_workers(folder, cluster, tmp_path):
    from analyzer.config import AnalysisConfig

    summary = analyze_files([folder / "west" / "call_0.wav"], AnalysisConfig(), out_dir=tmp_path / "e",
                            progress=False, scheduler=cluster.scheduler_address, html=False)
    assert summary.analysed == ["call_0"]
    result = json.loads((tmp_path / "e" / "calls" / "call_0.json").read_text())
    assert result["emotion"]["enabled"] and all(t.get("emotion_label") for t in result["turns"] if t["duration_s"] >= 0.5)


@pytest.mark.parametrize("scheduler,fragment", [
    ("local:0", "local:N"), ("nonsense", "tcp://HOST:PORT"), ("tcp://127.0.0.1:1", "cannot reach the Dask scheduler"),
])
def test_bad_scheduler_is_a_one_line_configuration_error(folder, tmp_path, fast_config, scheduler, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(":", ".")):
        analyze_files([folder / "west"], fast_config, out_dir=tmp_path / "x", progress=False, scheduler=scheduler)


@contextlib.contextmanager
def _deadline(seconds: int, what: str):
    """Fail with a message instead of hanging the suite (SIGALRM; the test runs in the main thread)."""
    def expired(signum, frame):
        raise TimeoutError(f"{what} did not finish within {seconds} s (a worker waiting forever?)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.slow
def test_two_worker_processes_and_a_dask_cluster_transcribe_like_the_serial_run(cluster, corpora, tmp_path):
    """--transcribe with --jobs 2 and on Dask gives the serial run's words and texts. The serial run goes
    first in this process, so the pool's forked workers inherit a loaded Whisper whose CTranslate2 threads
    did not survive the fork: each must load its own (it used to wait forever). One 13 s call, copied
    for the pool so that both workers transcribe."""
    pytest.importorskip("faster_whisper", reason="transcription extra not installed: pip install 'call-analyzer[asr]'")
    from conftest import say_the_word_call

    from analyzer.config import AnalysisConfig

    stereo, _ = say_the_word_call(corpora)
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
    sf.write(tmp_path / "one" / "a.wav", stereo, 16000)
    sf.write(tmp_path / "two" / "a.wav", stereo, 16000)
    sf.write(tmp_path / "two" / "b.wav", stereo, 16000)
    config = AnalysisConfig().replace(emotion={"enabled": False}, asr={"enabled": True})
    runs = {}
    for engine, folder, kwargs in (("serial", "one", {}), ("jobs2", "two", {"jobs": 2}),
                                   ("dask", "one", {"scheduler": cluster.scheduler_address})):
        with _deadline(600, f"the {engine} run"):
            summary = analyze_files([tmp_path / folder], config, out_dir=tmp_path / engine, progress=False,
                                    html=False, **kwargs)
        assert not summary.errors and len(summary.analysed) == (2 if folder == "two" else 1), (engine, summary.errors)
        runs[engine] = _outputs(tmp_path / engine)
    serial = runs["serial"]["a"]
    assert sum(len(t["words"]) for t in serial["turns"]) >= 20 and all(t["text"] for t in serial["turns"])

    def same_call(result: dict) -> dict:  # the outputs that depend on the audio only
        return {key: value for key, value in result.items() if key not in ("call_id", "path", "file_mtime_ns")}

    for engine, call_id in (("jobs2", "a"), ("jobs2", "b"), ("dask", "a")):
        other = runs[engine][call_id]
        assert [t["words"] for t in other["turns"]] == [t["words"] for t in serial["turns"]], (engine, call_id)
        assert same_call(other) == same_call(serial), (engine, call_id)
    assert (tmp_path / "dask" / "words.csv").read_text() == (tmp_path / "serial" / "words.csv").read_text()
