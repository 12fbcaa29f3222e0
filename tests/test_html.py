"""Call and index pages (parsed, no browser), escaping of hostile names, CSV cell neutralisation."""

import json
import time
from html.parser import HTMLParser

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzer.outputs.html import (
    neutralise_csv_cell,
    neutralise_csv_frame,
    page_href,
    page_path,
    relative_href,
    write_call_page,
    write_index,
)
from result_factory import make_result

HOSTILE = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>window.__pwned=1</script>"


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of <script> elements."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.scripts, self._in_script = [], [], False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)

    def with_class(self, cls):
        return [a for t, a in self.tags if cls in (a.get("class") or "").split()]


@pytest.mark.parametrize("value, expected", [
    ("=SUM(A1)", "'=SUM(A1)"), ("+1", "'+1"), ("-cmd", "'-cmd"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("call-1", "call-1"), ("", ""), (-2.5, -2.5), (-3, -3), (None, None), (1.0, 1.0),
])
def test_neutralise_csv_cell_prefixes_only_formula_like_strings(value, expected):
    assert neutralise_csv_cell(value) == expected


@given(st.text())
def test_neutralised_text_never_starts_with_a_formula_character(text):
    out = neutralise_csv_cell(text)
    assert not out.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert out.removeprefix("'") == text or out == text


@given(st.one_of(st.integers(), st.floats(allow_nan=False)))
def test_numbers_are_never_neutralised(number):
    assert neutralise_csv_cell(number) == number


def test_neutralise_csv_frame_keeps_negative_numbers_numeric():
    frame = pd.DataFrame({"call_id": ["=cmd|' /C calc'!A0", "ok"], "fto_s": [-0.4, 0.3]})
    out = neutralise_csv_frame(frame)
    assert out["call_id"].tolist() == ["'=cmd|' /C calc'!A0", "ok"]
    assert out["fto_s"].tolist() == [-0.4, 0.3]
    assert frame["call_id"][0].startswith("=")  # input untouched


def test_call_page_has_one_timeline_element_per_turn_with_times(tmp_path):
    call = make_result("north/call-1", dead_air_s=(7.0,), agent_interruptions=2)
    page = Tags(write_call_page(call, tmp_path / "p.html", audio_href="../audio/call-1.wav").read_text())
    turns = page.with_class("turn")
    assert len(turns) == len(call["turns"])
    assert sorted((float(a["data-start"]), float(a["data-end"])) for a in turns) == \
        sorted((t["start_s"], t["end_s"]) for t in call["turns"])
    assert len(page.with_class("ev-interruption")) == 2
    assert len(page.with_class("ev-dead_air")) == 1
    assert len(page.with_class("ev-gap")) == sum(e["kind"] == "gap" for e in call["events"])
    assert len(page.with_class("ev-backchannel")) == sum(e["kind"] == "backchannel" for e in call["events"])
    (audio,) = [a for t, a in page.tags if t == "audio"]
    assert audio["src"] == "../audio/call-1.wav"


def test_turns_are_coloured_by_emotion_with_probabilities_on_hover(tmp_path):
    call = make_result("c", agent_angry_turns=(1,))
    page = Tags(write_call_page(call, tmp_path / "p.html", audio_href=None).read_text())
    angry = page.with_class("e-angry")
    assert len(angry) == sum(t["emotion_label"] == "angry" for t in call["turns"]) >= 1
    assert "angry 77%" in angry[0]["title"]
    assert not [t for t, a in page.tags if t == "audio"]
    off = Tags(write_call_page(make_result("c", emotion=False), tmp_path / "q.html", audio_href=None).read_text())
    assert len(off.with_class("e-none")) == len(off.with_class("turn"))


def test_hostile_call_id_and_labels_are_escaped_everywhere(tmp_path):
    call = make_result(HOSTILE, path=f"/calls/{SCRIPT}.wav")
    call["warnings"] = [SCRIPT]
    call["qa"] = {"score": 50.0, "rules_version": SCRIPT, "failed": [
        {"rule": SCRIPT, "severity": "major", "weight": 1.0, "message": HOSTILE, "value": 1, "threshold": 0,
         "times": [[1.0, 2.0]]}], "skipped": [{"rule": SCRIPT, "reason": "x"}]}
    text = write_call_page(call, page_path(tmp_path, call["call_id"]), audio_href=f"{HOSTILE}.wav").read_text()
    assert HOSTILE not in text and SCRIPT not in text
    page = Tags(text)
    assert not [t for t, a in page.tags if t == "img"]
    assert [a for t, a in page.tags if t == "script" and a.get("type") != "application/json"] == [{}]
    data_script = next(s for s in page.scripts if "duration_s" in s)
    assert "<" not in data_script and json.loads(data_script)["call_id"] == HOSTILE
    index = write_index([call], tmp_path / "index.html", page_hrefs={HOSTILE: page_href(HOSTILE)}).read_text()
    assert HOSTILE not in index and SCRIPT not in index
    (link,) = [a for t, a in Tags(index).tags if t == "a"]
    assert link["href"] == "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.html"


def test_page_hrefs_percent_encode_each_path_component():
    assert page_href("north/2024 05/a#1?.x") == "north/2024%2005/a%231%3F.x.html"
    assert page_href("javascript:alert(1)") == "javascript%3Aalert%281%29.html"


def test_relative_href_points_from_page_folder_to_audio(tmp_path):
    assert relative_href(tmp_path / "in" / "a b#.wav", tmp_path / "out" / "html" / "x") == "../../../in/a%20b%23.wav"


def test_qa_failures_are_listed_with_clickable_times(tmp_path):
    call = make_result("c")
    call["qa"] = {"score": 80.0, "rules_version": "default-1", "failed": [
        {"rule": "dead_air_over_10s", "severity": "major", "weight": 15.0, "message": "Dead air longer than 10 s",
         "value": 12.0, "threshold": 10.0, "times": [[30.5, 42.5], [60.0, 71.0]]}], "skipped": []}
    page = Tags(write_call_page(call, tmp_path / "p.html", audio_href=None).read_text())
    links = [a for t, a in page.tags if t == "a" and "t" in (a.get("class") or "").split()]
    assert [float(a["data-start"]) for a in links] == [30.5, 60.0]
    assert len(page.with_class("ev-qa")) == 2


def test_index_lists_every_call_with_qa_score_and_link(tmp_path):
    calls = [make_result(f"team/c{k}", seed=k) for k in range(3)]
    calls[1]["qa"] = {"score": 62.5, "failed": [{"rule": "agent_interrupts_over_3"}]}
    hrefs = {c["call_id"]: page_href(c["call_id"]) for c in calls[:2]}
    page = Tags(write_index(calls, tmp_path / "index.html", page_hrefs=hrefs).read_text())
    rows = [a for t, a in page.tags if t == "tr" and "data-id" in a]
    assert [r["data-id"] for r in rows] == ["team/c0", "team/c1", "team/c2"]
    assert rows[1]["data-score"] == "62.5" and rows[1]["data-rules"] == "agent_interrupts_over_3"
    assert [a["href"] for t, a in page.tags if t == "a"] == ["team/c0.html", "team/c1.html"]


def test_two_hour_call_with_2000_turns_renders_fast_and_small(tmp_path):
    call = make_result("long", n_turns=2000, agent_interruptions=300, seed=4)
    start = time.perf_counter()
    path = write_call_page(call, tmp_path / "long.html", audio_href="long.wav")
    elapsed = time.perf_counter() - start
    assert call["duration_s"] > 7200
    assert elapsed < 3.0
    assert path.stat().st_size < 3_000_000
    assert len(Tags(path.read_text()).with_class("turn")) == 2000


def test_undiarized_mono_turns_get_their_own_lane(tmp_path):
    call = make_result("mono", seed=2)
    for turn in call["turns"][::3]:
        turn["speaker"] = "unknown"
    page = Tags(write_call_page(call, tmp_path / "m.html", audio_href=None).read_text())
    assert len(page.with_class("turn")) == len(call["turns"])
    assert len([a for t, a in page.tags if a.get("id") == "lane-unknown"]) == 1


def test_pipeline_result_carries_a_loudness_envelope_the_page_draws(tmp_path, fast_config):
    import soundfile as sf

    from analyzer.frames import ENVELOPE_MAX_BINS
    from analyzer.pipeline import analyze_file
    from conftest import SAMPLE_CALL

    audio, rate = sf.read(SAMPLE_CALL, frames=rate_frames(SAMPLE_CALL, 30.0))
    sf.write(tmp_path / "c.wav", audio, rate)
    result = analyze_file(tmp_path / "c.wav", fast_config).to_dict()
    envelope = result["envelope"]
    assert set(envelope["db"]) == {"agent", "customer"}
    n_bins = len(envelope["db"]["agent"])
    assert n_bins <= ENVELOPE_MAX_BINS and n_bins * envelope["bin_s"] == pytest.approx(result["duration_s"], abs=envelope["bin_s"])
    assert max(envelope["db"]["agent"]) > envelope["floor_db"] + 20  # speech is well above the floor
    page = Tags(write_call_page(result, tmp_path / "c.html", audio_href=None).read_text())
    assert len([a for t, a in page.tags if a.get("id") in ("envelope-agent", "envelope-customer")]) == 2
    assert result["analysed_at"].endswith("+00:00")


def rate_frames(path, seconds):
    import soundfile as sf

    return int(sf.info(path).samplerate * seconds)


def test_mono_mix_page_says_so_at_the_top_with_the_diarization_confidence(tmp_path):
    call = make_result("m", seed=1)
    call.update(mode="mono", channels=None, params={"audio": {"mono_mix": True}},
                diarization={"agent_confidence": 0.62, "separation_confidence": 0.4})
    call["warnings"] = ["low separation confidence"]
    text = write_call_page(call, tmp_path / "m.html", audio_href=None).read_text()
    top = text[:text.index('id="tl-scroll"')]
    assert "mono-mix: a stereo file mixed to mono" in top and "agent choice confidence 0.62" in top
    assert "low separation confidence" in top
    stereo = write_call_page(make_result("s"), tmp_path / "s.html", audio_href=None).read_text()
    assert "stereo: one party per channel (agent left, customer right)" in stereo and 'id="reliability"' not in stereo


def test_page_labels_say_what_the_figures_are():
    from analyzer.outputs.html import duration_clock, metric_label, rule_title, semitones_to_hz

    assert metric_label("agent_angry_share").startswith("share of agent speaking time that sounds angry")
    assert semitones_to_hz(12.0) == pytest.approx(200.0) and semitones_to_hz(0.0) == 100.0
    assert rule_title("dead_air_over_10s") == "dead air over 10 s"
    assert rule_title("agent_interrupts_over_3") == "agent interrupts over 3"
    assert [duration_clock(s) for s in (59.4, 61.0, 3725.0)] == ["0:59", "1:01", "1:02:05"]


def test_call_page_shows_pitch_in_hz_a_turn_list_and_a_clickable_peak_time(tmp_path):
    call = make_result("c", seed=2)
    text = write_call_page(call, tmp_path / "c.html", audio_href=None).read_text()
    assert "12.00 st (200 Hz)" in text
    page = Tags(text)
    rows = [a for t, a in page.tags if t == "tr" and "data-start" in a]
    assert [float(r["data-start"]) for r in rows] == sorted(t["start_s"] for t in call["turns"])
    (peak,) = [a for t, a in page.tags if t == "a" and a.get("class") == "mt"]
    assert float(peak["data-start"]) == call["metrics"]["peak_customer_anger_s"]
    assert page.with_class("end") and "Shares are shown in percent" in text


def test_index_shows_durations_as_mm_ss_and_rules_in_words(tmp_path):
    calls = [make_result("a", seed=1, duration_s=125.0)]
    calls[0]["qa"] = {"score": 60.0, "failed": [{"rule": "dead_air_over_10s"}]}
    text = write_index(calls, tmp_path / "i.html", page_hrefs={}).read_text()
    assert f">{calls[0]['metrics']['duration_s'] // 60:.0f}:" in text
    assert ">dead air over 10 s<" in text and 'data-rules="dead_air_over_10s"' in text


def test_turn_tooltip_says_when_a_neutral_label_is_the_uncertain_rule():
    from analyzer.outputs.html import _turn_tooltip

    turn = {"speaker": "agent", "index": 1, "start_s": 1.0, "end_s": 2.0, "emotion_label": "neutral", "p_neutral": 0.3,
            "p_happy": 0.2, "p_angry": 0.4, "p_sad": 0.1, "emotion_uncertain": True}
    assert "neutral (uncertain" in _turn_tooltip(turn) and "angry 40%" in _turn_tooltip(turn)
    assert "uncertain" not in _turn_tooltip(turn | {"emotion_uncertain": False})


def test_turn_list_shows_an_uncertain_turn_as_uncertain_with_its_top_class_not_as_a_neutral_probability():
    from analyzer.outputs.html import _turn_list_row

    turn = {"speaker": "agent", "index": 1, "start_s": 1.0, "end_s": 2.0, "emotion_label": "neutral", "p_neutral": 0.28,
            "p_happy": 0.07, "p_angry": 0.55, "p_sad": 0.10, "emotion_uncertain": True}
    row = _turn_list_row(turn)
    assert row["emotion"] == "neutral" and row["prob"] == "uncertain (top: angry 55%)"
    assert _turn_list_row(turn | {"emotion_uncertain": False})["prob"] == "28%"
