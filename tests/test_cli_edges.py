"""CLI and library edges: --debug after any subcommand, help without empty defaults, progress as
plain log lines off a terminal, no bar from the library by default, probabilities rounded in CSV."""

import inspect
import io

import pandas as pd
import pytest

from analyzer.batch import Progress, analyze_files, analyze_folder
from analyzer.cli import main, make_parser
from analyzer.outputs import writers
from result_factory import make_result

SUBCOMMANDS = ("analyze", "emotion", "train-emotion", "compare", "score", "export")


def _subparsers(parser):
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_debug_is_accepted_after_every_subcommand_and_help_has_no_empty_defaults(command, capsys):
    parser = make_parser()
    sub = _subparsers(parser)[command]
    assert "--debug" in sub._option_string_actions
    text = sub.format_help()
    assert "(default: None)" not in text and "(default: False)" not in text
    for action in sub._actions:
        if action.required and action.option_strings:
            assert "(default:" not in (action.help or "")


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path):
    missing = tmp_path / "nowhere"
    assert main(["score", str(missing)]) == 1  # one-line error without --debug
    parser = make_parser()
    assert parser.parse_args(["score", str(missing), "--debug"]).debug is True
    assert parser.parse_args(["--debug", "score", str(missing)]).debug is True
    assert parser.parse_args(["score", str(missing)]).debug is False


def test_analyze_help_still_shows_real_defaults():
    text = _subparsers(make_parser())["analyze"].format_help()
    assert "CPUs) (default: 1)" in " ".join(text.split())  # --jobs


def test_progress_off_a_terminal_is_plain_log_lines_not_bar_frames():
    stream = io.StringIO()  # not a TTY, like cron's or CI's stderr
    progress = Progress(3, enabled=True, every_s=3600.0, stream=stream)
    for k in range(3):
        progress.update(failed=1 if k else 0)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in stream.getvalue()
    assert lines[0].endswith("analyze: 1/3 calls done, 0 failed") and lines[1].endswith("analyze: 3/3 calls done, 1 failed")
    quiet = io.StringIO()
    silent = Progress(3, enabled=False, stream=quiet)
    silent.update(failed=0)
    assert quiet.getvalue() == ""


def test_library_batch_shows_no_progress_unless_asked():
    assert inspect.signature(analyze_files).parameters["progress"].default is False
    assert "progress" not in inspect.signature(analyze_folder).parameters  # passed through **kwargs to analyze_files


def test_turn_probabilities_are_rounded_in_csv_but_not_in_parquet(tmp_path):
    result = make_result("c", seed=1)
    result["turns"][0]["p_angry"] = 0.12345678901234567
    writers.write_tables(tmp_path, [result])
    csv_text = (tmp_path / "turns.csv").read_text()
    assert "0.1235" in csv_text and "0.12345678" not in csv_text
    assert pd.read_parquet(tmp_path / "turns.parquet")["p_angry"][0] == 0.12345678901234567


def test_emotion_command_prints_only_csv_rows_on_stdout(tmp_path, capsys):
    import csv

    import soundfile as sf

    from conftest import SAMPLE_CALL

    audio, rate = sf.read(SAMPLE_CALL, frames=4 * 8000)
    sf.write(tmp_path / "clip.wav", audio[:, 0], rate)
    assert main(["emotion", str(tmp_path / "clip.wav")]) == 0
    captured = capsys.readouterr()
    rows = list(csv.reader(io.StringIO(captured.out)))
    assert rows[0] == ["path", "label", "p_neutral", "p_happy", "p_angry", "p_sad", "arousal", "valence"]
    assert len(rows) == 2 and all(len(r) == 8 for r in rows) and not captured.out.lstrip().startswith("#")
    assert "# model emotion-open-v2" in captured.err  # the model goes to stderr, not into the CSV
