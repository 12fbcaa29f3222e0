"""Reviewers' annotations in the results database (analyzer/outputs/annotations.py), the calls-list queries
(analyzer/review/queries.py) and the ``annotations`` export: append-only history, stale edits refused,
concurrent writers, survival through analyze --force, score, a deleted or damaged database, the agreed CSV."""

from __future__ import annotations

import csv
import sqlite3
import threading
import time

import pytest

from analyzer.batch import analyze_files
from analyzer.cli import main as cli_main
from analyzer.outputs import annotations as ann
from analyzer.outputs.database import SCHEMA_VERSION, ResultsDatabase
from analyzer.review import queries
from review_helpers import CALL_IDS, FAST, build_results

AGREED_HEADER = "path,start_s,end_s,label,speaker,channel,call_id,turn_index,machine_label,annotator,annotated_at"


@pytest.fixture
def results(tmp_path, speech_clips):
    return build_results(tmp_path, speech_clips)


def _conn(results):
    return sqlite3.connect(str(results / "results.sqlite"), timeout=30)


def _turns(conn, call_id):
    return conn.execute("SELECT turn_index, start_s, end_s, speaker, emotion_label FROM turns WHERE call_id = ? "
                        "ORDER BY turn_index", (call_id,)).fetchall()


def _label(conn, results, call_id, turn, label, who="ann", expected=None):
    index, start, end = turn[:3]
    return ann.label_turn(conn, call_id=call_id, turn_index=index, start_s=start, end_s=end, label=label,
                          annotator=who, expected_previous=expected, journal=ann.journal_path(results / "results.sqlite"))


def _counts(results):
    with _conn(results) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ann.ANNOTATION_TABLES}


def test_labels_are_appended_with_machine_and_previous_value_and_the_latest_wins(results):
    with _conn(results) as conn:
        turn = _turns(conn, CALL_IDS[0])[1]
        first = _label(conn, results, CALL_IDS[0], turn, "angry", who="ann")
        second = _label(conn, results, CALL_IDS[0], turn, "sad", who="bob", expected="angry")
        rows = conn.execute("SELECT label, previous_label, machine_label, annotator, speaker FROM turn_labels "
                            "ORDER BY seq").fetchall()
        assert rows == [("angry", None, turn[4], "ann", turn[3]), ("sad", "angry", turn[4], "bob", turn[3])]
        latest = conn.execute("SELECT label, annotator FROM turn_labels_latest").fetchall()
        assert latest == [("sad", "bob")]
        machine = _turns(conn, CALL_IDS[0])[1]
        assert machine == turn  # the machine's rows are untouched
    assert first["annotated_at"] <= second["annotated_at"]


def test_a_stale_edit_is_refused_with_the_current_value_and_stores_nothing(results):
    with _conn(results) as conn:
        turn = _turns(conn, CALL_IDS[0])[0]
        _label(conn, results, CALL_IDS[0], turn, "happy", who="ann", expected=None)
        with pytest.raises(ann.StaleEdit) as stale:  # bob loaded the page before ann's edit
            _label(conn, results, CALL_IDS[0], turn, "angry", who="bob", expected=None)
        assert stale.value.current["label"] == "happy" and stale.value.current["annotator"] == "ann"
        assert conn.execute("SELECT COUNT(*) FROM turn_labels").fetchone()[0] == 1
        conn.execute("SELECT 1").fetchone()
        rule = conn.execute("SELECT rule FROM qa_results WHERE call_id = ? LIMIT 1", (CALL_IDS[1],)).fetchone()[0]
        ann.review_qa(conn, call_id=CALL_IDS[1], rule=rule, verdict="dispute", annotator="ann", expected_previous=None)
        with pytest.raises(ann.StaleEdit):
            ann.review_qa(conn, call_id=CALL_IDS[1], rule=rule, verdict="agree", annotator="bob", expected_previous=None)
        with pytest.raises(ann.AnnotationError, match="no turn"):
            ann.label_turn(conn, call_id=CALL_IDS[0], turn_index=0, start_s=turn[1] + 0.5, end_s=turn[2], label="sad",
                           annotator="ann", expected_previous=None)
        with pytest.raises(ann.AnnotationError, match="not one of"):
            _label(conn, results, CALL_IDS[0], turn, "furious", expected="happy")


def test_two_writers_on_separate_connections_at_once_lose_no_edit(results):
    with _conn(results) as conn:
        turns = _turns(conn, CALL_IDS[0]) + _turns(conn, CALL_IDS[1])
    ids = [CALL_IDS[0]] * 6 + [CALL_IDS[1]] * 6
    errors = []

    def reviewer(name, labels):
        conn = _conn(results)
        try:
            for k, (call_id, turn) in enumerate(zip(ids, turns)):
                if k % 2 == (name == "bob"):
                    _label(conn, results, call_id, turn, labels[k % len(labels)], who=name)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=reviewer, args=("ann", ["angry", "sad"])),
               threading.Thread(target=reviewer, args=("bob", ["happy", "neutral"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with _conn(results) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT annotator) FROM turn_labels_latest").fetchone() == (12, 2)
    lines = ann.journal_path(results / "results.sqlite").read_text().splitlines()
    assert len(lines) == 12


def test_annotations_survive_analyze_force_score_and_a_deleted_or_damaged_database(results, tmp_path):
    from analyzer.qa import load_default_rules, rescore_results

    db = results / "results.sqlite"
    with _conn(results) as conn:
        turn = _turns(conn, CALL_IDS[0])[2]
        _label(conn, results, CALL_IDS[0], turn, "angry")
        rule = conn.execute("SELECT rule FROM qa_results WHERE call_id = ? AND status = 'failed'",
                            (CALL_IDS[1],)).fetchone()[0]
        ann.review_qa(conn, call_id=CALL_IDS[1], rule=rule, verdict="dispute", comment="was on hold",
                      annotator="ann", expected_previous=None, journal=ann.journal_path(db))
        ann.add_note(conn, call_id=CALL_IDS[0], time_s=3.2, text="good greeting", annotator="ann",
                     journal=ann.journal_path(db))
    expected = {"turn_labels": 1, "qa_reviews": 1, "coaching_notes": 1}
    audio = tmp_path / "audio"
    assert analyze_files([audio], FAST, out_dir=results, resume=False, progress=False, html=False).exit_code == 0
    assert _counts(results) == expected, "analyze --force"
    rescore_results(results, load_default_rules())
    assert _counts(results) == expected, "score"
    for suffix in ("", "-wal", "-shm"):
        (results / f"results.sqlite{suffix}").unlink(missing_ok=True)
    notes = []
    assert analyze_files([audio], FAST, out_dir=results, progress=False, html=False, on_note=notes.append).exit_code == 0
    assert _counts(results) == expected, "deleted database, rebuilt from the JSON files and the journal"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.write_bytes(db.read_bytes()[:3000])  # damaged: set aside as results.sqlite.damaged and rebuilt
    notes = []
    assert analyze_files([audio], FAST, out_dir=results, progress=False, html=False, on_note=notes.append).exit_code == 0
    assert any("damaged database" in n for n in notes), notes
    assert any("restored from annotations.jsonl" in n for n in notes), notes
    assert _counts(results) == expected, "damaged database"
    with _conn(results) as conn:
        assert conn.execute("SELECT label, previous_label FROM turn_labels").fetchall() == [("angry", None)]
        assert conn.execute("SELECT verdict, comment FROM qa_reviews").fetchone() == ("dispute", "was on hold")
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3


def test_a_version_2_database_gets_the_annotation_tables_and_keeps_its_rows(results):
    db = results / "results.sqlite"
    with sqlite3.connect(db) as conn:
        for name in ("turn_labels_latest", "qa_reviews_latest"):
            conn.execute(f"DROP VIEW {name}")
        for name in ann.ANNOTATION_TABLES:
            conn.execute(f"DROP TABLE {name}")
        conn.execute("PRAGMA user_version = 2")
        n_turns = conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0]
    ResultsDatabase(db).close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        assert conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0] == n_turns
        assert _counts(results) == dict.fromkeys(ann.ANNOTATION_TABLES, 0)


def test_labels_attach_to_the_moved_turn_of_a_re_analysed_call_or_are_orphans():
    labels = [{"start_s": 1.0, "end_s": 3.0, "speaker": "agent", "label": "angry"},
              {"start_s": 5.0, "end_s": 6.0, "speaker": "customer", "label": "sad"},
              {"start_s": 8.0, "end_s": 9.0, "speaker": "agent", "label": "happy"}]
    turns = [{"index": 0, "start_s": 1.1, "end_s": 3.0, "speaker": "agent"},  # moved by 0.1 s: same turn
             {"index": 1, "start_s": 5.0, "end_s": 6.0, "speaker": "customer"},  # same times
             {"index": 2, "start_s": 8.0, "end_s": 12.0, "speaker": "agent"}]  # grew: overlap 1 of 4 s
    attached, orphans = ann.attach_to_turns(labels, turns)
    assert {k: v["label"] for k, v in attached.items()} == {0: "angry", 1: "sad"}
    assert [o["label"] for o in orphans] == ["happy"]


def test_export_writes_the_agreed_csv_and_leaves_out_unsure_and_wrong_turns(results, capsys):
    with _conn(results) as conn:
        a, b = _turns(conn, CALL_IDS[0]), _turns(conn, CALL_IDS[1])
        _label(conn, results, CALL_IDS[0], a[0], "happy")
        _label(conn, results, CALL_IDS[0], a[0], "angry", who="bob", expected="happy")  # latest wins
        _label(conn, results, CALL_IDS[0], a[1], "sad")
        _label(conn, results, CALL_IDS[1], b[0], "unsure")
        _label(conn, results, CALL_IDS[1], b[1], "not_a_turn")
        _label(conn, results, CALL_IDS[1], b[2], "wrong_speaker")
        _label(conn, results, CALL_IDS[1], b[3], "neutral")
        rule = conn.execute("SELECT rule FROM qa_results WHERE call_id = ? AND status = 'failed'",
                            (CALL_IDS[1],)).fetchone()[0]
        ann.review_qa(conn, call_id=CALL_IDS[1], rule=rule, verdict="dispute", comment="=cmd|' /C calc'!A0",
                      annotator="ann", expected_previous=None)
        channels = {cid: dict(conn.execute("SELECT json_each.key, json_each.value FROM calls, "
                                           "json_each(json_extract(result_json, '$.channels')) WHERE call_id = ?",
                                           (cid,)).fetchall()) for cid in CALL_IDS}
    out, disputes = results.parent / "labels.csv", results.parent / "disputes.csv"
    assert cli_main(["annotations", str(results), "--out", str(out), "--disputes", str(disputes)]) == 0
    text = out.read_text()
    assert text.splitlines()[0] == AGREED_HEADER
    rows = list(csv.DictReader(out.open()))
    assert [(r["call_id"], r["label"], r["annotator"]) for r in rows] == [
        (CALL_IDS[0], "angry", "bob"), (CALL_IDS[0], "sad", "ann"), (CALL_IDS[1], "neutral", "ann")]
    for row, turn in zip(rows, [a[0], a[1], b[3]]):
        assert (int(row["turn_index"]), float(row["start_s"]), float(row["end_s"]), row["speaker"]) == \
            (turn[0], round(turn[1], 3), round(turn[2], 3), turn[3])
        assert row["path"] == str(results.parent / "audio" / (row["call_id"] + ".wav"))
        assert row["channel"] == str(channels[row["call_id"]][row["speaker"]]) and row["channel"] in ("0", "1")
    summary = capsys.readouterr().err
    assert "3 labelled turns" in summary and "1 unsure" in summary and "1 not a turn" in summary \
        and "1 wrong speaker" in summary, summary
    dispute_rows = list(csv.DictReader(disputes.open()))
    assert [(r["call_id"], r["rule"], r["machine_status"], r["annotator"]) for r in dispute_rows] == \
        [(CALL_IDS[1], rule, "failed", "ann")]
    assert dispute_rows[0]["comment"].startswith("'=")  # no formula for a spreadsheet


def test_the_export_is_a_turns_input_train_emotion_reads(results):
    labelled = pytest.importorskip("analyzer.emotion.train.labelled", reason="train-emotion turns reader not merged yet")
    with _conn(results) as conn:
        for call_id in CALL_IDS:
            for turn, label in zip(_turns(conn, call_id), ["angry", "sad", "happy", "neutral"]):
                _label(conn, results, call_id, turn, label)
    out = results.parent / "labels.csv"
    assert cli_main(["annotations", str(results), "--out", str(out)]) == 0
    items = labelled.read_labelled_csv(out)
    assert len(items) == 8 and all(item.is_turn and item.channel in (0, 1) for item in items)
    assert {item.group for item in items} == set(CALL_IDS)


def test_the_calls_list_filters_sorts_and_pages_in_sql_over_20000_calls(tmp_path):
    db = ResultsDatabase(tmp_path / "results.sqlite")
    conn = db.connection
    rows = [(f"agent{k % 7}/2024-05-{1 + k % 28:02d}/call-{k:05d}", f"/calls/{k}.wav", 40.0 + k % 60,
             k % 5, float(k % 40), 30.0 + k % 300) for k in range(20_000)]
    with conn:
        conn.executemany("INSERT INTO calls (call_id, path, qa_score, n_warnings, dead_air_total_s, duration_s) "
                         "VALUES (?,?,?,?,?,?)", rows)
        conn.executemany("INSERT INTO qa_results (call_id, rule, status) VALUES (?, 'dead_air_over_10s', 'failed')",
                         [(r[0],) for r in rows if r[4] > 10])
    start = time.perf_counter()
    page, total = queries.list_calls(conn, queries.CallFilter(), page=3, page_size=50)
    assert total == 20_000 and len(page) == 50 and page[0]["call_id"] == sorted(r[0] for r in rows)[100]
    f = queries.CallFilter(date="2024-05-07", qa_min=50, qa_max=80, failed_rule="dead_air_over_10s",
                           warnings="with", metric="dead_air_total_s", metric_min=15, metric_max=30,
                           sort="qa_score", descending=True)
    page, total = queries.list_calls(conn, f, page=1, page_size=25)
    expected = [r for r in rows if "/2024-05-07/" in r[0] and 50 <= r[2] <= 80 and r[4] > 10 and r[3] > 0
                and 15 <= r[4] <= 30]
    assert total == len(expected) > 0
    assert [p["qa_score"] for p in page] == sorted((r[2] for r in expected), reverse=True)[:25]
    assert all(p["failed_rules"] == "dead_air_over_10s" for p in page)
    page, total = queries.list_calls(conn, queries.CallFilter(text="call-1999"), page=1, page_size=50)
    assert total == 10 and sorted(p["call_id"][-10:] for p in page) == [f"call-1999{k}" for k in range(10)]
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, elapsed  # three queries; a page of everything would not be this quick
    db.close()


def test_the_search_box_also_searches_transcripts_when_the_database_has_them(results):
    with _conn(results) as conn:
        assert not queries.has_transcripts(conn)
        assert queries.list_calls(conn, queries.CallFilter(text="contract"))[1] == 0
        conn.execute("INSERT INTO turns_fts VALUES ('I want to cancel my contract', ?, 1, 'customer', 3.1, 5.0)",
                     (CALL_IDS[1],))
        assert queries.has_transcripts(conn)
        rows, total = queries.list_calls(conn, queries.CallFilter(text="contract"))
        assert total == 1 and rows[0]["call_id"] == CALL_IDS[1]
        assert [r["call_id"] for r in queries.list_calls(conn, queries.CallFilter(text="2024-05-01"))[0]] == [CALL_IDS[0]]
        assert queries.list_calls(conn, queries.CallFilter(text='"unbalanced'))[1] == 0  # no FTS error, no match


def test_the_export_channel_is_the_speakers_stereo_channel_and_empty_for_mono_and_mono_mix():
    import json

    stereo = {"mode": "stereo", "channels": {"agent": 1, "customer": 0}, "params": {"audio": {"mono_mix": False}}}
    assert ann._channels(json.dumps(stereo)) == {"agent": 1, "customer": 0}
    assert ann._channels(json.dumps({**stereo, "params": {"audio": {"mono_mix": True}}})) == {}
    assert ann._channels(json.dumps({"mode": "mono", "channels": {}})) == {}
    assert ann._channels(None) == {} and ann._channels("{broken") == {}


def test_after_a_re_analysis_moved_a_turn_the_call_view_still_shows_its_label(results):
    import json

    from analyzer.review.app import create_app

    with _conn(results) as conn:
        turn = _turns(conn, CALL_IDS[0])[2]
        _label(conn, results, CALL_IDS[0], turn, "angry")
        (result_json,) = conn.execute("SELECT result_json FROM calls WHERE call_id = ?", (CALL_IDS[0],)).fetchone()
        result = json.loads(result_json)  # as if re-analysed with other parameters: the turn starts 80 ms later
        result["turns"][turn[0]]["start_s"] = round(turn[1] + 0.08, 3)
        result["turns"].append({"index": 99, "speaker": turn[3], "start_s": 500.0, "end_s": 501.0})
        conn.execute("UPDATE calls SET result_json = ? WHERE call_id = ?", (json.dumps(result), CALL_IDS[0]))
        conn.execute("INSERT INTO turn_labels (uid, call_id, turn_index, start_s, end_s, speaker, label, annotator, "
                     "annotated_at) VALUES ('gone', ?, 7, 300.0, 302.0, 'agent', 'sad', 'ann', '2026-01-01')", (CALL_IDS[0],))
    client = create_app(results).test_client()
    state = client.get(f"/api/call?id={CALL_IDS[0]}", headers={"Host": "localhost"}).get_json()
    shown = {t["index"]: (t["label"], t["exact"]) for t in state["turns"] if t["label"]}
    assert shown == {turn[0]: ("angry", False)}  # attached to the moved turn, marked as labelled before
    assert [(o["label"], o["start_s"]) for o in state["orphans"]] == [("sad", 300.0)]
