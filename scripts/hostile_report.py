"""Run the hostile-input corpus (tests/hostile_corpus.py) through the CLI and print the README table.

    python scripts/hostile_report.py [--out bench/hostile.md]

Builds the 38 files in a temporary folder, runs `call-analyzer analyze` over it
(emotion on, as a user would), and prints one row per file: what is odd about
it, and what the user gets (the result's warnings, or the error line).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import hostile_corpus  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", default=str(REPO.parent / "shared" / "corpora"))
    parser.add_argument("--out", default=str(REPO / "bench" / "hostile.md"), help="markdown table written here too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "calls"
        cases = hostile_corpus.build(folder, hostile_corpus.load_sources(Path(args.corpora)))
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "analyzer", "analyze", str(folder), "--out", str(Path(tmp) / "out"),
                               "--quiet"], capture_output=True, text=True)
        seconds = time.monotonic() - started
        found = hostile_corpus.outcomes(Path(tmp) / "out")
        lines = [
            f"*{len(cases)} hostile inputs, one batch run (`call-analyzer analyze`, emotion on), exit code "
            f"{proc.returncode}, {seconds:.0f} s, traceback printed: {'yes' if 'Traceback' in proc.stderr else 'no'}; "
            "the folder also holds a symlink loop (not followed).*",
            "",
            "| file | what is odd | outcome | expected |",
            "|---|---|---|---|",
        ]
        for case in cases:
            status, text = found.get(case.name, ("missing", "neither analysed nor reported"))
            text = text.replace(str(folder / case.name) + ": ", "").replace("|", "\\|")
            outcome = f"analysed{': ' + text if text else ''}" if status == "ok" else f"{status}: {text}"
            expected = "result" + (f" + warning" if case.warning else "") if case.expect == hostile_corpus.OK else "error"
            name = case.name.replace("\n", "\\n")
            lines.append(f"| `{name}` | {case.description} | {outcome} | {expected} |")
    table = "\n".join(lines) + "\n"
    print(table)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
