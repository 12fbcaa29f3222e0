"""Outcome comparison on hand-made results: a synthetic won/lost cohort with known real and null differences."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from analyzer.cli import make_parser
from analyzer.compare import (
    ResultsError,
    compare_outcomes,
    labels_by_folder,
    load_results,
    match_labels,
    read_labels,
    write_report,
)
from analyzer.compare.stats import _cliffs_delta
from result_factory import make_result, synthetic_cohort, write_results

REAL_EFFECTS = {"agent_latency_median_s": -1, "interruptions_by_agent": -1, "customer_turnaround": +1,
                "customer_valence_end": +1}
NULL_METRICS = ("pitch_sd_agent_st", "speech_rate_agent_sps", "backchannels_customer", "energy_sd_agent_db")


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    results, labels = synthetic_cohort(30, seed=1)
    out = write_results(tmp_path_factory.mktemp("cohort"), results)
    pd.DataFrame({"call_id": list(labels), "outcome": list(labels.values())}).to_csv(out / "labels.csv", index=False)
    return out


@pytest.fixture(scope="module")
def cohort_result(cohort_dir):
    calls = load_results(cohort_dir)
    outcomes = match_labels(read_labels(cohort_dir / "labels.csv"), calls.index)
    return compare_outcomes(calls, outcomes, positive="won", n_boot=300, seed=0)


def check_cohort_result(result, *, real=REAL_EFFECTS, null=NULL_METRICS, min_auc=0.75):
    """What a won/lost cohort with known effects must give; reusable with simulator-made results."""
    by_metric = {f.metric: f for f in result.findings}
    for metric, sign in real.items():
        assert metric in by_metric, f"{metric} not found as a finding"
        assert np.sign(by_metric[metric].effect) == sign
        assert by_metric[metric].q < 0.05
    for metric in null:
        assert metric not in by_metric, f"null metric {metric} reported as a finding"
    assert result.classifier is not None
    assert result.classifier.auc >= min_auc
    assert result.classifier.auc_ci_low > 0.5


def test_cohort_real_differences_are_found_with_right_sign_and_nulls_are_not(cohort_result):
    check_cohort_result(cohort_result)
    assert cohort_result.group_sizes == {"won": 30, "lost": 30}
    assert not any("Small groups" in w for w in cohort_result.warnings)


def test_stats_table_is_ranked_by_absolute_delta_with_ci_around_delta(cohort_result):
    stats = cohort_result.stats.dropna(subset=["delta"])
    deltas = stats["delta"].abs().to_numpy()
    assert np.all(deltas[:-1] >= deltas[1:])
    assert np.all(stats["delta_ci_low"] <= stats["delta"] + 1e-9)
    assert np.all(stats["delta"] <= stats["delta_ci_high"] + 1e-9)
    assert np.all(stats["q"] >= stats["p"] - 1e-12)
    row = stats.set_index("metric").loc["interruptions_by_agent"]
    assert row["n_won"] == 30 and row["n_lost"] == 30
    assert row["median_won"] < row["median_lost"]
    assert row["q1_won"] <= row["median_won"] <= row["q3_won"]


def test_latency_finding_reads_in_plain_words_with_medians_delta_and_q(cohort_result):
    finding = next(f for f in cohort_result.findings if f.metric == "agent_latency_median_s")
    row = cohort_result.stats.set_index("metric").loc["agent_latency_median_s"]
    assert finding.text.startswith("Agents in won calls answer")
    assert "sooner" in finding.text
    assert f"median {row['median_won']:.2f} s vs {row['median_lost']:.2f} s in lost calls" in finding.text
    assert f"delta {row['delta']:+.2f}" in finding.text and "q = " in finding.text


def test_cliffs_delta_matches_pairwise_definition():
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 5, 17).astype(float), rng.integers(0, 6, 23).astype(float)  # with ties
    pairwise = np.mean(np.sign(x[:, None] - y[None, :]))
    assert _cliffs_delta(x, y) == pytest.approx(pairwise)


def test_small_groups_give_a_warning_and_no_findings():
    results, labels = synthetic_cohort(6, seed=2)
    calls = pd.DataFrame([{"call_id": r["call_id"], **r["metrics"]} for r in results]).set_index("call_id")
    result = compare_outcomes(calls.astype(float), pd.Series(labels), positive="won", n_boot=100)
    assert any("Small groups: 6 won and 6 lost" in w for w in result.warnings)
    assert result.findings == ()
    assert len(result.stats) > 10  # the descriptive table is still there


def test_metric_missing_in_most_calls_is_warned_about_and_not_tested(cohort_dir):
    calls = load_results(cohort_dir)
    calls.loc[calls.index[:45], "customer_valence_end"] = np.nan
    labels = labels_by_folder(calls.index)
    result = compare_outcomes(calls, labels, positive="won", n_boot=0)
    assert any("customer_valence_end" in w and "missing" in w for w in result.warnings)
    row = result.stats.set_index("metric").loc["customer_valence_end"]
    assert math.isnan(row["p"]) and row["missing_share"] == pytest.approx(0.75)
    assert "customer_valence_end" not in {f.metric for f in result.findings}


def test_load_results_reads_nested_call_ids_nulls_and_trajectory(tmp_path):
    write_results(tmp_path, [make_result("won/a/x", valence_start=-0.5, valence_end=0.5, seed=1),
                             make_result("lost/y", emotion=False, seed=2)])
    (tmp_path / "calls" / "broken.json").write_text("{not json")
    calls = load_results(tmp_path)
    assert sorted(calls.index) == ["lost/y", "won/a/x"]
    assert math.isnan(calls.loc["lost/y", "customer_valence_end"])
    traj = calls.loc["won/a/x", [f"traj_customer_valence_{k:02d}" for k in range(10)]].to_numpy(dtype=float)
    assert traj[-1] > traj[0]
    assert np.isnan(calls.loc["lost/y", "traj_customer_valence_00"])
    assert len(calls.attrs["skipped"]) == 1 and "broken.json" in calls.attrs["skipped"][0]


def test_empty_results_folder_is_an_error_naming_the_fix(tmp_path):
    with pytest.raises(ResultsError, match="run 'call-analyzer analyze'"):
        load_results(tmp_path)


def test_labels_csv_without_outcome_column_is_an_error(tmp_path):
    (tmp_path / "l.csv").write_text("call_id,result\na,won\n")
    with pytest.raises(ResultsError, match="lacks column.*outcome"):
        read_labels(tmp_path / "l.csv")


def test_labels_match_call_ids_written_with_extension_or_dot_slash():
    labels = pd.Series({"./won/a.wav": "won", "b": "lost", "missing": "won"})
    matched = match_labels(labels, pd.Index(["won/a", "b", "c"]))
    assert matched.to_dict() == {"won/a": "won", "b": "lost"}


def test_positive_label_not_among_outcomes_is_an_error(cohort_dir):
    calls = load_results(cohort_dir)
    with pytest.raises(ResultsError, match="--positive 'success' is not an outcome"):
        compare_outcomes(calls, labels_by_folder(calls.index), positive="success", n_boot=0)


def test_numeric_outcome_gives_spearman_findings(tmp_path):
    rng = np.random.default_rng(5)
    csat = rng.integers(1, 6, 80)
    calls = pd.DataFrame({"agent_latency_median_s": 2.0 - 0.3 * csat + rng.normal(0, 0.3, 80),
                          "pitch_sd_agent_st": rng.normal(2.5, 0.5, 80)},
                         index=[f"c{k}" for k in range(80)])
    result = compare_outcomes(calls, pd.Series(csat.astype(str), index=calls.index), n_boot=200)
    assert result.kind == "ordinal"
    stats = result.stats.set_index("metric")
    assert stats.loc["agent_latency_median_s", "rho"] < -0.5
    assert [f.metric for f in result.findings] == ["agent_latency_median_s"]
    assert "falls as the outcome rises" in result.findings[0].text
    html = write_report(result, tmp_path)["report"].read_text()
    assert "Spearman rho" in html and html.count('src="data:image/png;base64,') == 2  # no emotion: no trajectory


def test_report_files_are_written_and_hostile_labels_are_escaped(cohort_dir, tmp_path):
    calls = load_results(cohort_dir)
    evil = "<script>window.__pwned=1</script>"
    outcomes = labels_by_folder(calls.index).replace({"lost": evil, "won": "=HYPERLINK(1)"})
    result = compare_outcomes(calls, outcomes, positive="=HYPERLINK(1)", n_boot=50)
    paths = write_report(result, tmp_path / "rep")
    html = paths["report"].read_text()
    assert evil not in html and "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert html.count('src="data:image/png;base64,') == 3  # distributions, forest, trajectory
    stats_csv = paths["stats"].read_text().splitlines()
    assert all(not cell.startswith("=") for line in stats_csv for cell in line.split(","))
    findings = paths["findings"].read_text()
    assert "Agents in =HYPERLINK(1) calls answer" in findings


def test_compare_and_score_commands_run_from_argparse(cohort_dir, tmp_path, capsys):
    parser = make_parser()
    args = parser.parse_args(["compare", str(cohort_dir), "--by-folder", "--out", str(tmp_path / "r"),
                              "--positive", "won", "--n-boot", "50"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "Agents in won calls answer" in out and (tmp_path / "r" / "report.html").exists()

    args = parser.parse_args(["compare", str(tmp_path / "nowhere"), "--by-folder", "--out", str(tmp_path / "r2")])
    assert args.func(args) == 1
    assert "results folder not found" in capsys.readouterr().err


def test_score_command_rewrites_qa_in_json_tables_database_and_pages(tmp_path, capsys):
    from analyzer.outputs import writers

    results = [make_result("a/one", agent_interruptions=6, seed=1), make_result("-two", seed=2)]
    write_results(tmp_path, results)
    writers.write_tables(tmp_path, results)
    with writers.ResultsDatabase(tmp_path / writers.DB_NAME) as db:
        for result in results:
            db.upsert_call(result)
    (tmp_path / "index.html").write_text("old")
    parser = make_parser()
    args = parser.parse_args(["score", str(tmp_path)])
    assert args.func(args) == 0
    one = json.loads((tmp_path / "calls" / "a" / "one.json").read_text())
    assert one["qa"]["rules_version"] == "default-3"
    assert "agent_interrupts_over_3" in [f["rule"] for f in one["qa"]["failed"]]
    table = pd.read_csv(tmp_path / "calls.csv")
    scores = dict(zip(table["call_id"].str.removeprefix("'"), table["qa_score"]))
    assert scores == {"a/one": one["qa"]["score"], "-two": 100.0}
    import sqlite3
    with sqlite3.connect(tmp_path / writers.DB_NAME) as conn:
        stored = dict(conn.execute("SELECT call_id, qa_score FROM calls").fetchall())
    assert stored == {"a/one": one["qa"]["score"], "-two": 100.0}
    assert "Agent interrupted the customer 6 times" in (tmp_path / "html" / "a" / "one.html").read_text()
    assert 'href="html/a/one.html"' in (tmp_path / "index.html").read_text()
    assert "Scored 2 calls with rules default-3" in capsys.readouterr().out


def test_score_command_with_bad_rules_file_reports_line_and_exits_1(tmp_path, capsys):
    write_results(tmp_path, [make_result("a")])
    (tmp_path / "r.toml").write_text('[[rules]]\nid = "x"\ntype = "metric"\nmetric = "nope"\nmax = 1\n')
    parser = make_parser()
    args = parser.parse_args(["score", str(tmp_path), "--rules", str(tmp_path / "r.toml")])
    assert args.func(args) == 1
    assert "r.toml, line 4: rule 'x': unknown metric 'nope'" in capsys.readouterr().err


def test_finding_does_not_contradict_medians_when_distributions_cross():
    # won calls: median 2 s but a long slow tail; lost calls: median 2.5 s; P(won > lost) > P(won < lost)
    won = ([2.0] * 6 + [0.0] * 7 + [10.0] * 10) * 10
    lost = ([2.5] * 12 + [1.0] * 11) * 10
    calls = pd.DataFrame({"agent_latency_median_s": won + lost}, index=[f"c{k}" for k in range(460)])
    outcomes = pd.Series(["won"] * 230 + ["lost"] * 230, index=calls.index)
    result = compare_outcomes(calls, outcomes, positive="won", n_boot=0)
    (finding,) = result.findings
    stats = result.stats.set_index("metric").loc["agent_latency_median_s"]
    assert stats["median_won"] < stats["median_lost"] and stats["delta"] > 0  # the construction
    assert "later" not in finding.text and "sooner" not in finding.text
    assert finding.text.startswith("The agent response latency (median) tends to be higher in won calls")
