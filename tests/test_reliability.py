"""Metrics that cannot be measured, or not reliably, are null or flagged with a reason (issue 14)."""

from analyzer.config import TurnConfig
from analyzer.intervals import Segment
from analyzer.metrics.pacing import pacing_metrics
from analyzer.metrics.reliability import MONO_OVERLAP, unreliable_metrics
from analyzer.turns import analyse_conversation


def _conv(mixed=None):
    segs = [Segment(0, 3, "agent"), Segment(3, 5, "customer"), Segment(5.6, 8, "agent"), Segment(8.4, 10, "customer")]
    return analyse_conversation(segs, TurnConfig(), mixed_speech=mixed)


def test_mono_overlap_and_interruptions_are_null_with_a_reason_not_zero():
    conv = _conv([Segment(0, 5, "unknown"), Segment(5.6, 8, "unknown"), Segment(8.4, 10, "unknown")])
    metrics, notes = unreliable_metrics(pacing_metrics(conv, 10.0), conv, mono=True, n_speakers_estimate=2)
    for key in ("overlap_ratio", "interruptions_by_agent", "interruptions_by_customer_per_min", "interruptions_successful_by_agent"):
        assert metrics[key] is None and notes[key] == MONO_OVERLAP
    assert notes["backchannels_customer"].startswith("lower bound")
    assert notes["customer_latency_median_s"].startswith("partly measured: 1 of 2 changes to the customer were placed by diarization")
    assert metrics["customer_latency_median_s"] == 0.4  # the measured change only
    assert "agent_latency_median_s" not in notes


def test_stereo_call_with_two_parties_has_no_notes():
    conv = _conv()
    metrics, notes = unreliable_metrics(pacing_metrics(conv, 10.0), conv, mono=False, n_speakers_estimate=None)
    assert notes == {} and metrics["overlap_ratio"] == 0.0


def test_more_than_two_voices_flags_every_party_metric_but_not_silence():
    conv = _conv()
    metrics, notes = unreliable_metrics(pacing_metrics(conv, 10.0), conv, mono=True, n_speakers_estimate=3)
    assert "more than two voices" in notes["talk_ratio_agent"] and "more than two voices" in notes["turns_customer"]
    assert "silence_ratio" not in notes and "dead_air_count" not in notes


def test_a_real_call_read_as_mono_does_not_pass_the_interruption_rule_on_an_unmeasured_zero(corpora):
    """auto_repairs_49: in stereo 5 agent interruptions fail `agent_interrupts_over_3`; read as a mono mix the
    rule used to *pass* on 0 interruptions. Now it is not applicable, with the reason, and the score says so."""
    import pytest

    pytest.importorskip("resemblyzer", reason="mono diarization needs resemblyzer")
    from analyzer.config import AnalysisConfig
    from analyzer.pipeline import analyze_file

    config = AnalysisConfig().replace(emotion={"enabled": False}, prosody={"enabled": False}, audio={"mono_mix": True})
    result = analyze_file(corpora / "calls" / "aws_lca" / "auto_repairs_49.flac", config).to_dict()
    assert result["metrics"]["overlap_ratio"] is None and result["metrics"]["interruptions_by_agent"] is None
    assert result["unreliable_metrics"]["overlap_ratio"] == MONO_OVERLAP
    qa = result["qa"]
    assert "agent_interrupts_over_3" not in qa["passed"]
    (skip,) = [s for s in qa["skipped"] if s["rule"] == "agent_interrupts_over_3"]
    assert skip["reason"].startswith("not applicable: interruptions_by_agent is not measured on a mono call")
    assert qa["checked"] < qa["rules"]
    assert all(t["fto_s"] is None or t["fto_s"] > 0 for t in result["turns"][1:])  # no 0.00 s "gap" from a boundary
    assert any("mono call: overlap and interruptions are not measured" in w for w in result["warnings"])


def test_separation_confidences_are_columns_of_calls_csv_the_database_and_the_index(tmp_path):
    import json
    import sqlite3

    from analyzer.outputs.html import index_context
    from analyzer.outputs.writers import ResultsDatabase, call_row
    from result_factory import make_result

    result = make_result("m1")
    result["mode"] = "mono"
    result["diarization"] = {"agent_rule": "first", "agent_confidence": 0.44, "separation_confidence": 0.2,
                             "n_speakers_estimate": 2, "voice_measures": {}}
    row = call_row(result)
    assert (row["agent_confidence"], row["separation_confidence"], row["n_speakers_estimate"]) == (0.44, 0.2, 2)
    with ResultsDatabase(tmp_path / "r.sqlite") as db:
        db.upsert_call(json.loads(json.dumps(result)))
    with sqlite3.connect(tmp_path / "r.sqlite") as conn:
        assert conn.execute("SELECT agent_confidence, separation_confidence, n_speakers_estimate FROM calls").fetchone() == (0.44, 0.2, 2)
    (index_row,) = index_context([result], page_hrefs={})["rows"]
    assert [c["text"] for c in index_row["separation"]] == ["0.44", "0.20", "2"]


def test_diarization_confidence_warnings_follow_one_rule():
    from analyzer.diarize import DiarizationConfig, confidence_warnings

    cfg = DiarizationConfig()
    # the two real calls: 0.44 / 0.20 used to get no warning while 0.42 / 0.22 got one
    for agent, separation in ((0.44, 0.20), (0.42, 0.22)):
        (warning,) = confidence_warnings(agent, separation, 0.80, config=cfg)
        assert f"agent confidence {agent:.2f} < 0.5" in warning and f"separation confidence {separation:.2f} < 0.25" in warning
    assert confidence_warnings(0.61, 0.37, 0.80, config=cfg) == []
    (similar,) = confidence_warnings(0.61, 0.37, 0.92, config=cfg)
    assert similar.startswith("diarization is unsure who is who: the two voices are hard to tell apart (similarity 0.92)")
