"""Smoke tests of the benchmark suite (scripts/bench/run.py --quick): tiny inputs, well-formed outputs.

Nothing here times anything or checks accuracy thresholds (tests/test_pacing_accuracy.py does that);
each benchmark must write a markdown table and a JSON file with every system, column and a number in range.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PEERS = {"webrtcvad-2", "webrtcvad-3", "call-ai-metrics", "silero-vad", "librosa-split"}


@pytest.fixture(scope="module")
def suite():
    spec = importlib.util.spec_from_file_location("bench_suite_run", REPO / "scripts" / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench")


def _load(out: Path, stem: str) -> tuple[str, dict]:
    return (out / f"{stem}.md").read_text(), json.loads((out / f"{stem}.json").read_text())


def _table_rows(md: str, header_start: str) -> list[list[str]]:
    """Body rows of the markdown table whose header line starts with ``header_start``."""
    lines = md.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith(header_start))
    width = lines[i].count("|")
    assert lines[i + 1].count("|") == width and set(lines[i + 1]) <= set("|-")
    rows = []
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        assert line.count("|") == width, line
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def _share(value) -> bool:
    return value is None or 0.0 <= value <= 1.0


def test_pacing_quick_scores_ours_and_every_peer_in_both_stereo_conditions_and_ours_on_mono(suite, out, corpora):
    suite.bench_pacing(out, quick=True)
    for stem in ("pacing_accuracy", "pacing_accuracy_heavy"):
        md, data = _load(out, stem)
        assert set(data["results"]) == {"call-analyzer"} | PEERS
        assert data["truth"] == "audible" and data["n_calls"] == 1
        for scores in data["results"].values():
            for key in ("speech_f1_agent", "speech_f1_customer", "fto_within_100ms_share", "missed_changes_share",
                        "interruption_precision", "interruption_recall", "backchannel_recall", "dead_air_recall"):
                assert _share(scores[key]), (key, scores[key])
            assert scores["speaker_changes"] > 0
        assert [r[0] for r in _table_rows(md, "| system | speech F1")] == list(data["results"])
        assert len(_table_rows(md, "| system | interruptions")) == len(data["results"])
    md, data = _load(out, "pacing_accuracy_mono")
    if data["results"]:
        assert set(data["results"]) == {"call-analyzer-mono"} and "not available" in data["peers"]
        assert _table_rows(md, "| system | speech F1")[0][0] == "call-analyzer-mono"
    else:
        assert data["not_available"].startswith("not available:")


def test_ami_quick_scores_six_configurations_of_ours_and_four_raw_peers_on_one_file(suite, out, corpora):
    suite.bench_ami(out, quick=True)
    md, data = _load(out, "ami_vad")
    assert len(data["results"]) == 10 and sum("(raw)" in name for name in data["results"]) == 4
    for r in data["results"].values():
        assert r["files"] == 1
        assert all(0.0 <= r["pooled"][k] <= 1.0 for k in ("precision", "recall", "f1"))
    rows = _table_rows(md, "| detector | files")
    assert [r[0] for r in rows] == list(data["results"]) and all(r[1] == "1" for r in rows)


def test_emotion_copies_every_shipped_models_evaluation_table(suite, out):
    suite.bench_emotion(out, quick=True)
    md, data = _load(out, "emotion")
    shipped = {p.parent.name for p in (REPO / "analyzer" / "models").glob("*/evaluation.md")}
    assert set(data["models"]) == shipped
    for model in shipped:
        assert f"### {model}" in md
        assert (REPO / "analyzer" / "models" / model / "evaluation.md").read_text().strip() in md


def test_speed_quick_reports_every_stage_both_job_counts_peers_and_a_paired_ratio(suite, out):
    suite.bench_speed(out, quick=True)
    md, data = _load(out, "speed")
    (row,) = data["rows"]
    assert row["jobs1"]["duration_s"] == pytest.approx(15.0, abs=0.1)
    assert row["jobs2"]["duration_s"] == pytest.approx(30.0, abs=0.1)  # two copies
    assert set(row["jobs1"]["stages_s"]) == {"probe", "decode_vad_prosody", "vad_segments", "turns_metrics", "prosody_metrics",
                                            "emotion", "writing"}
    for jobs in ("jobs1", "jobs2"):
        assert 0 < row[jobs]["cpu_s"] and 0 < row[jobs]["wall_s"] and 50 < row[jobs]["peak_rss_mb"] < 8000
    assert set(data["peers"][0]) == {"minutes", "call-analyzer-pacing", "webrtcvad", "silero-vad"}
    (ab,) = data["ab"]
    assert ab["pairs"] == 1 and math.isfinite(ab["ratio_cpu_b_over_a"]) and ab["ratio_wall_b_over_a"] > 0
    assert data["mono_rows"][0]["jobs1"]["stages_s"]["diarization"] > 0
    assert [r[0] for r in _table_rows(md, "| call | probe")] == ["0.25 min", "0.25 min mono"]
    assert len(_table_rows(md, "| call length | jobs")) == 2
    assert len(_table_rows(md, "| call length | system")) == 3
    assert len(_table_rows(md, "| A | B")) == 1


def test_throughput_quick_analyses_every_simulated_call_with_both_engines(suite, out, corpora):
    suite.bench_throughput(out, quick=True, emotion=False)
    md, data = _load(out, "throughput")
    assert len(data["runs"]) == 2
    for run in data["runs"].values():
        assert run["calls"] == data["n_calls"] == 2
        assert run["audio_h_per_wall_h"] > 0 and run["audio_h_per_cpu_h"] > 0
    rows = _table_rows(md, "| engine")
    assert [row[0] for row in rows] == ["process pool, --jobs 2", "Dask LocalCluster, --scheduler local:2"]


def test_jobs_scaling_quick_times_one_job_both_ways_and_two_jobs_for_both_pipelines(suite, out, corpora):
    suite.bench_jobs_scaling(out, quick=True)
    md, data = _load(out, "jobs_scaling")
    pipelines = ("pacing + prosody (--no-emotion)", "full (with emotion)")
    variants = ("--jobs 1", "--jobs 1 --threads 2", "--jobs 2")
    assert sorted(data["runs"]) == sorted(f"{p} | {v}" for p in pipelines for v in variants)
    for runs in data["runs"].values():
        assert len(runs) == data["rounds"] == 1
        assert all(r["wall_s"] > 0 and r["cpu_s"] >= r["parent_cpu_s"] > 0 for r in runs)
    rows = _table_rows(md, "| pipeline | run")
    assert [(row[0], row[1]) for row in rows] == [(p, v) for p in pipelines for v in variants]
    for row in rows:  # the speed-up of --jobs 2 over each one-job run; none for itself
        assert row[5] == "-" if row[1] == "--jobs 2" else float(row[5].split("x")[0]) > 0


def test_vs_peers_quick_gives_every_system_a_paired_cpu_ratio_to_call_ai_metrics(suite, out, corpora):
    suite.bench_vs_peers(out, quick=True)
    md, data = _load(out, "vs_peers")
    systems = data["systems"]
    assert len(systems) == 4 and data["rounds"] == 1 and data["n_calls"] == 2
    peer = next(name for name in systems if name.startswith("call-ai-metrics"))
    assert systems[peer]["ratio_to_peer_median"] == pytest.approx(1.0)
    for row in systems.values():
        assert row["cpu_s_median"] > 0 and row["peak_rss_mb_max"] > 0
        assert row["ratio_to_peer_min"] <= row["ratio_to_peer_median"] <= row["ratio_to_peer_max"]
    assert [r[0] for r in _table_rows(md, "| system | CPU (median)")] == list(systems)


def test_startup_quick_measures_three_variants_of_analyze_on_a_30_s_call(suite, out):
    suite.bench_startup(out, quick=True)
    md, data = _load(out, "startup")
    assert set(data["variants"]) == {"--no-emotion --no-prosody", "--no-emotion", "everything (emotion too)"}
    for row in data["variants"].values():
        assert row["cpu_s_median"] > 0 and row["peak_rss_mb_max"] > 0
    assert len(_table_rows(md, "| `call-analyzer analyze` on a 30 s call")) == 3
