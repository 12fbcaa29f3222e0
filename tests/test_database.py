"""The SQLite results database: tables and columns, foreign keys, ISO timestamps, the SQL examples
of docs/database.md (on hand-made results and on simulated calls analysed by the product), and the
migration of a database written by the previous (version 1) schema."""

import json
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyzer.outputs import tables, writers
from analyzer.outputs.database import SCHEMA_VERSION, ResultsDatabase
from analyzer.qa import evaluate, load_default_rules
from result_factory import make_result

DOCS = Path(__file__).resolve().parents[1] / "docs" / "database.md"
VERSION_1_DB = Path(__file__).resolve().parent / "data" / "results-schema1.sqlite"


def generated_calls() -> list[dict]:
    """Two agents over two days; some calls with long dead air, some with many agent interruptions."""
    rules = load_default_rules()
    specs = [
        ("north/2024-05-01/c1", dict(dead_air_s=(12.0,), agent_interruptions=5, agent_latency_s=4.0)),
        ("north/2024-05-01/c2", dict(dead_air_s=(6.0,), agent_interruptions=1, agent_latency_s=0.5)),
        ("north/2024-05-02/c3", dict(dead_air_s=(14.0, 11.0), agent_interruptions=0, agent_latency_s=0.8)),
        ("south/2024-05-01/c4", dict(dead_air_s=(13.0,), agent_interruptions=6, agent_latency_s=3.5)),
        ("south/2024-05-02/c5", dict(agent_interruptions=2, agent_latency_s=1.2)),
    ]
    results = []
    for seed, (call_id, kwargs) in enumerate(specs):
        result = make_result(call_id, duration_s=150.0, seed=seed, **kwargs)
        result["qa"] = evaluate(rules, result)
        results.append(result)
    return results


def doc_queries() -> dict[str, str]:
    text = DOCS.read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- query: (\w+) -->\s*```sql\n(.*?)```", text, flags=re.S))


@pytest.fixture()
def database(tmp_path):
    results = generated_calls()
    with ResultsDatabase(tmp_path / "results.sqlite") as db:
        for result in results:
            db.upsert_call(result)
        db.record_error("/data/bad.wav", "bad", "not audio")
    conn = sqlite3.connect(tmp_path / "results.sqlite")
    yield conn, results
    conn.close()


def test_tables_hold_every_row_and_column_of_the_results(database):
    conn, results = database
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    for table in tables.TABLES:
        expected = tables.table_rows(results, table)
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        assert set().union(*[row.keys() for row in expected]) <= set(columns), table
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == len(expected), table
    one = results[0]
    stored = conn.execute("SELECT fto_s, p_angry, pitch_median_st, emotion_label FROM turns "
                          "WHERE call_id = ? AND turn_index = 1", (one["call_id"],)).fetchone()
    turn = one["turns"][1]
    assert stored == (turn["fto_s"], turn["p_angry"], turn["pitch_median_st"], turn["emotion_label"])
    types = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(calls)")}
    assert types["dead_air_count"] == "INTEGER" and types["agent_latency_median_s"] == "REAL"
    assert conn.execute("SELECT COUNT(*) FROM metrics WHERE call_id = ?", (one["call_id"],)).fetchone()[0] \
        == len(one["metrics"])
    failed = conn.execute("SELECT rule, severity, weight, first_time_s FROM qa_results "
                          "WHERE call_id = ? AND status = 'failed' ORDER BY rule", (one["call_id"],)).fetchall()
    assert failed == sorted((f["rule"], f["severity"], float(f["weight"]), f["times"][0][0] if f["times"] else None)
                            for f in one["qa"]["failed"])


def test_foreign_keys_cascade_and_indexes_exist(database):
    conn, results = database
    conn.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO events (call_id, event_index, kind, start_s, end_s) VALUES ('nope', 0, 'gap', 0, 1)")
    conn.execute("DELETE FROM calls WHERE call_id = ?", (results[0]["call_id"],))
    for table in ("turns", "events", "segments", "qa_results"):
        assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE call_id = ?", (results[0]["call_id"],)).fetchone()[0] == 0
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"ix_events_call_id", "ix_events_kind", "ix_qa_results_rule"} <= indexes


def test_timestamps_are_iso_and_rescoring_keeps_analysed_at(tmp_path):
    result = make_result("a/1", seed=3)
    result["analysed_at"] = "2026-11-30T08:00:00+00:00"
    path = tmp_path / "r.sqlite"
    with ResultsDatabase(path) as db:
        db.upsert_call(result)
        rescored = dict(result, qa=evaluate(load_default_rules(), result))
        db.upsert_call(rescored)
        undated = {k: v for k, v in result.items() if k != "analysed_at"}
        db.upsert_call(undated)  # an old result without analysed_at: same content, stored time kept
        db.record_error("/x.wav", "x", "broken")
        row = db.connection.execute("SELECT analysed_at, qa_score FROM calls").fetchone()
        at = db.connection.execute("SELECT at FROM errors").fetchone()[0]
    assert row[0] == "2026-11-30T08:00:00+00:00"
    assert pd.Timestamp(at).tzinfo is not None


def test_sql_examples_in_the_docs_return_the_expected_rows(database):
    conn, results = database
    queries = doc_queries()
    assert set(queries) == {"dead_air_and_low_score", "agent_median_latency_per_day", "interruptions_by_one_agent"}

    expected = []
    for r in results:
        long_dead = [e["end_s"] - e["start_s"] for e in r["events"] if e["kind"] == "dead_air" and e["end_s"] - e["start_s"] > 10]
        if long_dead and r["qa"]["score"] < 70:
            expected.append((r["call_id"], r["qa"]["score"], round(max(long_dead), 3), len(long_dead)))
    expected.sort(key=lambda row: (row[1], row[0]))
    got = [(c, s, round(d, 3), n) for c, s, d, n in conn.execute(queries["dead_air_and_low_score"]).fetchall()]
    assert got == expected
    assert sorted(row[0] for row in got) == ["north/2024-05-01/c1", "south/2024-05-01/c4"]  # c3: long dead air, score >= 70

    answers: dict[tuple[str, str], list[float]] = {}
    for r in results:
        agent, day, _ = r["call_id"].split("/")
        answers.setdefault((agent, day), []).extend(
            e["fto_s"] for e in r["events"] if e["kind"] in ("gap", "overlap") and e["speaker"] == "agent")
    expected = [(a, d, pytest.approx(float(np.median(v)), abs=1e-9), len(v)) for (a, d), v in sorted(answers.items())]
    assert conn.execute(queries["agent_median_latency_per_day"]).fetchall() == expected
    assert len(expected) == 4

    expected = sorted((r["call_id"], e["start_s"], e["end_s"], e["outcome"]) for r in results
                      if r["call_id"].startswith("north/") for e in r["events"]
                      if e["kind"] == "interruption" and e["speaker"] == "agent")
    assert conn.execute(queries["interruptions_by_one_agent"]).fetchall() == expected
    assert len(expected) == 6


def test_a_version_1_database_is_migrated_in_place(tmp_path):
    """tests/data/results-schema1.sqlite was written by call-analyzer 0.2 (commit e148852, the unversioned
    schema) from two make_result calls, one scored, plus one error row."""
    path = tmp_path / "results.sqlite"
    shutil.copy(VERSION_1_DB, path)
    with sqlite3.connect(path) as old:
        old_calls = old.execute("SELECT call_id, analysed_at, result_json FROM calls ORDER BY call_id").fetchall()
        old_turns = old.execute("SELECT call_id, turn_index, row_json FROM turns ORDER BY call_id, turn_index").fetchall()
        assert old.execute("PRAGMA user_version").fetchone()[0] == 0
    with ResultsDatabase(path) as db:
        assert db.migrated_from == 1
        conn = db.connection
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        calls = conn.execute("SELECT call_id, analysed_at, qa_score FROM calls ORDER BY call_id").fetchall()
        assert [c[0] for c in calls] == [c[0] for c in old_calls]
        for (_, at, score), (_, epoch, result_json) in zip(calls, old_calls):
            assert abs(pd.Timestamp(at) - pd.Timestamp(epoch, unit="s", tz="UTC")) < pd.Timedelta(microseconds=1)
            assert score == (json.loads(result_json).get("qa") or {}).get("score")
        turns = conn.execute("SELECT call_id, turn_index, fto_s, p_angry FROM turns ORDER BY call_id, turn_index").fetchall()
        assert turns == [(c, i, json.loads(j).get("fto_s"), json.loads(j).get("p_angry")) for c, i, j in old_turns]
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == sum(
            len(json.loads(j)["events"]) for _, _, j in old_calls)
        assert conn.execute("SELECT path, reason FROM errors").fetchall() == [("/data/calls/bad.wav", "cannot decode: not audio")]
        assert conn.execute("SELECT type FROM sqlite_master WHERE name = 'metrics'").fetchone()[0] == "view"
    with ResultsDatabase(path) as db:  # opening again: nothing left to migrate
        assert db.migrated_from is None


def test_a_database_from_a_newer_analyzer_is_refused(tmp_path):
    from analyzer.errors import AnalyzerError

    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(AnalyzerError, match="newer than this call-analyzer"):
        ResultsDatabase(path)


def test_tables_are_written_as_csv_and_parquet_with_the_database_columns(tmp_path):
    results = generated_calls()
    writers.write_tables(tmp_path, results)
    for table in tables.TABLES:
        frame = pd.read_parquet(tmp_path / f"{table}.parquet")
        assert len(frame) == len(tables.table_rows(results, table)), table
        assert list(pd.read_csv(tmp_path / f"{table}.csv", nrows=0).columns) == list(frame.columns), table
    assert "turn_index" in pd.read_parquet(tmp_path / "turns.parquet").columns


SIMULATED = {  # call_id: simulator overrides (agent north slow and interrupting on day 1, south quick)
    "north/2024-05-01/sim-a": {"agent_latency_mean_s": 1.2, "agent_interrupt_prob": 0.35, "dead_air_prob": 0.3},
    "north/2024-05-02/sim-b": {"agent_latency_mean_s": 0.8, "agent_interrupt_prob": 0.2, "dead_air_prob": 0.2},
    "south/2024-05-01/sim-c": {"agent_latency_mean_s": 0.3, "agent_interrupt_prob": 0.02, "dead_air_prob": 0.3},
    "south/2024-05-01/sim-d": {"agent_latency_mean_s": 0.4, "agent_interrupt_prob": 0.3, "dead_air_prob": 0.25},
}


@pytest.fixture(scope="module")
def simulated_database(corpora, tmp_path_factory):
    """Four calls from the simulator, analysed (emotion off) and scored with the default rules by `analyze`."""
    import soundfile as sf

    from analyzer.batch import analyze_files
    from analyzer.config import AnalysisConfig
    from callsim.simulate import SimulationParams, call_seed, simulate_call

    root = tmp_path_factory.mktemp("simulated")
    for number, (call_id, overrides) in enumerate(SIMULATED.items()):
        call = simulate_call(SimulationParams(seed=call_seed(300, number), n_turns=16, **overrides), corpora_root=corpora)
        target = root / "calls" / f"{call_id}.wav"
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(target, call.stereo, call.sample_rate_hz, subtype="ULAW")
    out = root / "results"
    summary = analyze_files([root / "calls"], AnalysisConfig().replace(emotion={"enabled": False}), out_dir=out,
                            html=False)
    assert summary.exit_code == 0
    results = list(writers.iter_call_results(out))
    conn = sqlite3.connect(out / writers.DB_NAME)
    yield conn, results
    conn.close()


def test_sql_examples_on_simulated_calls_return_the_rows_of_the_json_results(simulated_database):
    conn, results = simulated_database
    assert sorted(r["call_id"] for r in results) == sorted(SIMULATED)
    queries = doc_queries()

    expected = []
    for r in results:
        long_dead = [e["end_s"] - e["start_s"] for e in r["events"] if e["kind"] == "dead_air" and e["end_s"] - e["start_s"] > 10]
        if long_dead and r["qa"]["score"] < 70:
            expected.append((r["call_id"], r["qa"]["score"], round(max(long_dead), 3), len(long_dead)))
    got = [(c, s, round(d, 3), n) for c, s, d, n in conn.execute(queries["dead_air_and_low_score"]).fetchall()]
    assert got == sorted(expected, key=lambda row: (row[1], row[0]))
    assert got  # one simulated call has both (when written: south/2024-05-01/sim-c, score 68.8, 14.9 s)

    answers: dict[tuple[str, str], list[float]] = {}
    for r in results:
        agent, day, _ = r["call_id"].split("/")
        answers.setdefault((agent, day), []).extend(
            e["fto_s"] for e in r["events"] if e["kind"] in ("gap", "overlap") and e["speaker"] == "agent")
    rows = conn.execute(queries["agent_median_latency_per_day"]).fetchall()
    assert [(a, d, n) for a, d, _, n in rows] == [(a, d, len(v)) for (a, d), v in sorted(answers.items())]
    assert [m for _, _, m, _ in rows] == pytest.approx([float(np.median(v)) for _, v in sorted(answers.items())])
    # the per-day medians agree with the analyzer's own per-call metric where a day has one call
    single = {r["call_id"].rsplit("/", 1)[0]: r for r in results if r["call_id"].startswith("north/")}
    for (agent, day, median, _) in rows:
        if agent == "north":
            assert median == pytest.approx(single[f"{agent}/{day}"]["metrics"]["agent_latency_median_s"], abs=0.011)

    interruptions = sorted((r["call_id"], e["start_s"], e["end_s"], e["outcome"]) for r in results
                           if r["call_id"].startswith("north/") for e in r["events"]
                           if e["kind"] == "interruption" and e["speaker"] == "agent")
    assert conn.execute(queries["interruptions_by_one_agent"]).fetchall() == interruptions
    assert interruptions  # the slow, interrupting north agent does interrupt


def test_new_metrics_and_call_fields_get_columns_and_only_metrics_enter_the_long_view(tmp_path):
    result = make_result("a/1", seed=5)
    result["metrics"]["agent_new_thing_s"] = 1.5  # a metric from a newer analyzer
    with ResultsDatabase(tmp_path / "r.sqlite") as db:
        db.upsert_call(result)
        conn = db.connection
        assert conn.execute("SELECT agent_new_thing_s FROM calls").fetchone() == (1.5,)
        names = {row[0] for row in conn.execute("SELECT name FROM metrics")}
    assert names == set(result["metrics"])  # identity columns (qa_score, status, ...) are not metrics
