"""Broken and odd files (tests/hostile_corpus.py): each gives a result or one clear line, never a hang or a traceback."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import hostile_corpus
from hostile_corpus import OK

RUN_TIMEOUT_S = 900  # the whole corpus, 10-hour file included, takes about a minute


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory, corpora):
    folder = tmp_path_factory.mktemp("hostile") / "calls"
    cases = hostile_corpus.build(folder, hostile_corpus.load_sources(corpora))
    out = folder.parent / "out"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "analyzer", "analyze", str(folder), "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )
    return {"cases": cases, "folder": folder, "out": out, "proc": proc, "seconds": time.monotonic() - started}


def test_corpus_has_at_least_thirty_hostile_files(corpus_run):
    assert len(corpus_run["cases"]) >= 30


def test_batch_over_hostile_corpus_ends_with_exit_code_2_and_no_traceback(corpus_run):
    proc = corpus_run["proc"]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    n_errors = sum(case.expect != OK for case in corpus_run["cases"])
    assert f"{n_errors} failed" in proc.stderr


def test_every_hostile_file_gets_its_expected_outcome(corpus_run):
    found = hostile_corpus.outcomes(corpus_run["out"])
    assert set(found) == {case.name for case in corpus_run["cases"]}, "every file is either analysed or reported"
    for case in corpus_run["cases"]:
        status, text = found[case.name]
        if case.expect == OK:
            assert status == "ok", (case.name, text)
            if case.warning:
                assert case.warning in text, (case.name, text)
        else:
            assert status == "error", (case.name, text)
            assert case.expect in text, (case.name, text)


def test_error_reasons_are_one_line_and_name_the_file(corpus_run):
    found = hostile_corpus.outcomes(corpus_run["out"])
    for case in corpus_run["cases"]:
        status, reason = found[case.name]
        if status == "error":
            assert "\n" not in reason and "Traceback" not in reason, reason
            assert str(corpus_run["folder"] / case.name) in reason, reason
            assert "internal error" not in reason, reason


def test_truncated_files_are_analysed_up_to_the_damage_with_a_warning(corpus_run):
    for name in ("truncated_half.flac", "truncated_half.mp3"):
        result = hostile_corpus.result_for(corpus_run["out"], name)
        assert 9.0 < result["duration_s"] < 11.5, "the decoded half, not the header's 20 s"
        assert any("header promises 20.0 s" in w for w in result["warnings"])


def test_ten_hour_file_is_streamed_not_loaded(corpus_run):
    result = hostile_corpus.result_for(corpus_run["out"], "ten_hours.wav")
    assert result["duration_s"] == pytest.approx(36000.0)
    assert result["metrics"]["turns_agent"] + result["metrics"]["turns_customer"] > 4, "the minute of speech is analysed"
    assert result["metrics"]["silence_ratio"] > 0.99, "and the rest is silence"
    assert corpus_run["seconds"] < RUN_TIMEOUT_S


def test_loader_fuzz_smoke_gives_only_results_or_audio_errors():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "fuzz_loader.py"
    spec = importlib.util.spec_from_file_location("fuzz_loader", script)
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    report = fuzz.run(40, seed=1, timeout_s=30.0)
    assert report["failures"] == []
    assert report["examples"] >= 30 and report["outcomes"]["ok"] > 0, "mutated real files, some still decodable"
