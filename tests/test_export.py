"""`call-analyzer export` (RTTM, Audacity, TextGrid, JSON Lines) and the DataFrame API analyzer.results.open."""

import json

import pandas as pd
import pytest

import analyzer.results
from analyzer.cli import main
from analyzer.outputs import writers
from analyzer.qa import evaluate, load_default_rules
from result_factory import make_result, write_results


@pytest.fixture()
def results_dir(tmp_path):
    rules = load_default_rules()
    results = [make_result("north/day 1/call-a", duration_s=90.0, dead_air_s=(7.0,), agent_interruptions=3, seed=1),
               make_result("south/call-b", duration_s=60.0, seed=2, emotion=False)]
    for result in results:
        result["qa"] = evaluate(rules, result)
    # overlapping speech of the two parties, as in real calls
    results[0]["segments"].append({"speaker": "customer", "start_s": 10.0, "end_s": 10.8})
    out = write_results(tmp_path / "res", results)
    writers.write_tables(out, results, {r["call_id"]: writers.result_status(r, set()) for r in results})
    return out, results


def _annotation(segments, uri):
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=uri)
    for number, seg in enumerate(segments):
        annotation[Segment(seg["start_s"], seg["end_s"]), number] = seg["speaker"]
    return annotation


def test_rttm_export_read_by_pyannote_equals_the_json_segments(results_dir, tmp_path, capsys):
    from pyannote.database.util import load_rttm
    from pyannote.metrics.diarization import DiarizationErrorRate

    out, results = results_dir
    assert main(["export", str(out), "--format", "rttm", "--out", str(tmp_path / "rttm")]) == 0
    assert "2 rttm file(s) for 2 call(s)" in capsys.readouterr().err
    for result in results:
        loaded = load_rttm(tmp_path / "rttm" / (result["call_id"] + ".rttm"))
        uri = result["call_id"].replace(" ", "_")
        assert list(loaded) == [uri]
        hypothesis = loaded[uri]
        reference = _annotation(result["segments"], uri)
        assert hypothesis.labels() == ["agent", "customer"]
        assert DiarizationErrorRate()(reference, hypothesis) == pytest.approx(0.0, abs=1e-9)
        for speaker in ("agent", "customer"):
            mine = [(round(s.start, 3), round(s.end, 3)) for s in hypothesis.label_timeline(speaker, copy=False)]
            theirs = sorted((s["start_s"], s["end_s"]) for s in result["segments"] if s["speaker"] == speaker)
            assert mine == theirs


def test_textgrid_export_opens_in_parselmouth_with_a_tier_per_party_and_event_group(results_dir, tmp_path):
    import parselmouth
    from parselmouth.praat import call

    out, results = results_dir
    assert main(["export", str(out), "--format", "textgrid", "--out", str(tmp_path / "tg")]) == 0
    result = results[0]
    grid = parselmouth.read(str(tmp_path / "tg" / (result["call_id"] + ".TextGrid")))
    n_tiers = call(grid, "Get number of tiers")
    names = [call(grid, "Get tier name", k) for k in range(1, n_tiers + 1)]
    assert names == ["agent", "customer", "gaps & overlaps", "interruptions", "backchannels", "pauses",
                     "dead air & holds"]
    agent_turns = [t for t in result["turns"] if t["speaker"] == "agent"]
    labelled = []
    for k in range(1, call(grid, "Get number of intervals", 1) + 1):
        label = call(grid, "Get label of interval", 1, k)
        if label:
            labelled.append((round(call(grid, "Get start time of interval", 1, k), 3), label))
    assert labelled == [(t["start_s"], f"agent turn {t['index']} ({t['emotion_label']})") for t in agent_turns]
    dead = [e for e in result["events"] if e["kind"] == "dead_air"]
    dead_labels = [call(grid, "Get label of interval", 7, k) for k in range(1, call(grid, "Get number of intervals", 7) + 1)]
    assert dead_labels.count("dead air") == len(dead) == 1


def test_audacity_and_jsonl_exports_hold_every_turn_and_event(results_dir, tmp_path):
    out, results = results_dir
    assert main(["export", str(out), "--format", "audacity", "--out", str(tmp_path / "aud")]) == 0
    assert main(["export", str(out), "--format", "jsonl", "--out", str(tmp_path / "jl")]) == 0
    result = results[1]
    base = tmp_path / "aud" / result["call_id"]
    customer = [line.split("\t") for line in (base.parent / (base.name + ".customer.txt")).read_text().splitlines()]
    assert [(float(a), float(b)) for a, b, _ in customer] == [
        (t["start_s"], t["end_s"]) for t in result["turns"] if t["speaker"] == "customer"]
    events = (base.parent / (base.name + ".events.txt")).read_text().splitlines()
    assert len(events) == len(result["events"])
    records = [json.loads(line) for line in (tmp_path / "jl" / "south" / "call-b.jsonl").read_text().splitlines()]
    assert [r["record"] for r in records].count("turn") == len(result["turns"])
    assert [r["record"] for r in records].count("event") == len(result["events"])
    assert all(r["call_id"] == "south/call-b" for r in records)


def test_export_of_a_missing_folder_is_one_line_error(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nowhere"), "--format", "rttm", "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "results folder not found" in err and len(err.strip().splitlines()) == 1


def test_dataframe_api_returns_the_rows_of_the_parquet_files(results_dir):
    out, results = results_dir
    res = analyzer.results.open(out)
    assert len(res) == 2
    for name in ("calls", "turns", "events", "segments", "qa_results"):
        frame = getattr(res, name)
        parquet = pd.read_parquet(out / f"{name}.parquet")
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), parquet, check_dtype=False)
    assert set(res.calls["call_id"]) == {"north/day 1/call-a", "south/call-b"}
    assert len(res.turns) == sum(len(r["turns"]) for r in results)
    assert set(res.qa_results["status"]) <= {"failed", "passed", "not_applicable"}
    assert set(res.calls["status"]) == {writers.STATUS_SOURCE_GONE}  # make_result paths do not exist
