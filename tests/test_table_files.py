"""The tables' CSV and Parquet without pandas (issue 16): the same CSV text and the same frame read back as pandas wrote."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from analyzer.outputs import table_files, writers


def _pandas_files(rows: list[dict]) -> tuple[str, bytes]:
    frame = pd.DataFrame(rows)
    text = io.StringIO()
    writers.neutralise_csv_frame(writers.round_for_csv(frame)).to_csv(text, index=False)
    data = io.BytesIO()
    frame.to_parquet(data, index=False)
    return text.getvalue(), data.getvalue()


CASES = {
    "ints": [{"n": 1}, {"n": -3}],
    "ints_with_missing_become_floats": [{"n": 1, "x": 0.5}, {"x": 2.0}, {"n": None, "x": 3}],
    "floats_numpy_text": [{"v": 1e-05}, {"v": 123456789.0}, {"v": 1e16}, {"v": -0.0}, {"v": 0.1 + 0.2}],
    "probabilities_rounded_in_csv_only": [{"p_angry": 0.123456789, "arousal": -0.98765, "valence": None}],
    "bools_and_bools_with_none": [{"ok": True, "maybe": None}, {"ok": False, "maybe": True}],
    "strings_formulas_quotes_missing": [{"call_id": "=HYPERLINK(1)", "t": 'a,"b"\nc'}, {"call_id": "-x"}, {"t": None, "call_id": "é"}],
    "all_none_column": [{"a": None, "b": 1}, {"a": None, "b": 2}],
    "no_rows": [],
    "a_row_longer_than_the_json_reader_block": [{"text": "x" * 3_000_000, "n": 1}, {"text": "y", "n": 2}],
}


@pytest.mark.parametrize("name", list(CASES))
def test_table_files_equal_what_pandas_writes(name):
    rows = CASES[name]
    assert not table_files.needs_pandas(rows)
    text, parquet = _pandas_files(rows)
    assert table_files.csv_text(rows, writers.neutralise_csv_cell) == text
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(table_files.parquet_bytes(rows))), pd.read_parquet(io.BytesIO(parquet)))


@pytest.mark.parametrize("rows", [[{"a": [1, 2]}], [{"a": 1}, {"a": "x"}], [{"a": True}, {"a": 1}], [{}]],
                         ids=["list", "int_and_str", "bool_and_int", "no_columns"])
def test_other_column_mixes_are_left_to_pandas(rows):
    assert table_files.needs_pandas(rows)


def test_writing_a_results_folder_imports_no_pandas(tmp_path):
    import subprocess
    import sys

    from conftest import REPO, SAMPLE_CALL

    child = ("import sys; from analyzer import AnalysisConfig; from analyzer.batch import analyze_files; "
             "analyze_files([sys.argv[1]], AnalysisConfig().replace(emotion={'enabled': False}), out_dir=sys.argv[2]); "
             "print(sorted(m for m in ('pandas', 'matplotlib', 'sklearn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", child, str(SAMPLE_CALL), str(tmp_path / "out")], capture_output=True,
                          text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "out" / "calls.parquet").is_file() and (tmp_path / "out" / "turns.csv").is_file()
