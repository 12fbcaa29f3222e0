"""Size of the index page's words index (search-index.js) per call and per hour of transcribed calls.

Two sources:
- ``--results DIR ...``: real results folders written by ``analyze --transcribe`` (every
  ``calls/**/*.json`` with a transcript);
- synthetic batches (``--calls``, ``--minutes``): each call draws ``words_per_min`` words from a
  Zipf law over a ``--vocabulary``-word vocabulary whose exponent is set so a call of the real
  calls' length has their share of distinct words (a stand-in for thousands of real calls, which
  we do not have: the vocabulary is an assumption, stated in the output).

    python3 scripts/bench_search_index.py --results /tmp/w/o2 --calls 100 1000 5000 --minutes 5 [--browser]

``--browser``: also writes index.html for the largest synthetic batch and times, in headless
Chromium (Debian ``chromium`` + Python ``playwright``), the page's load and a words search that
loads ``search-index.js`` first (one word said in every 7th call).

Prints one JSON object; docs/words.md and BENCHMARKS.md quote it.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from analyzer.outputs.search_index import build_search_index, call_terms, search_index_script  # noqa: E402


def real_calls(folders: list[Path]) -> list[dict]:
    calls = []
    for folder in folders:
        for path in sorted((folder / "calls").rglob("*.json")):
            result = json.loads(path.read_text())
            if call_terms(result):
                calls.append(result)
    return calls


def _words_of(call: dict) -> int:
    return sum(len(t.get("words") or []) for t in call.get("turns") or [])


def size_of(calls: list[dict]) -> dict:
    start, cpu0 = time.perf_counter(), time.process_time()
    index = build_search_index(calls)
    text = search_index_script(index)
    cpu_s = time.process_time() - cpu0
    hours = sum(float(c.get("duration_s") or 0.0) for c in calls) / 3600.0
    return {"calls": len(calls), "hours": round(hours, 2), "words": sum(_words_of(c) for c in calls),
            "terms": len(index["terms"]), "postings": sum(p.count(",") + 1 for p in index["postings"]),
            "bytes": len(text.encode("utf-8")), "bytes_per_call": round(len(text.encode("utf-8")) / len(calls)),
            "kb_per_hour": round(len(text.encode("utf-8")) / 1000 / hours, 1), "build_s": round(time.perf_counter() - start, 2), "build_cpu_s": round(cpu_s, 2)}


def _vocabulary(n: int, rng: np.random.Generator) -> list[str]:
    """n distinct made-up words of English-like lengths (3-10 letters, shorter ones more frequent by rank)."""
    words, seen = [], set()
    letters = np.array(list(string.ascii_lowercase))
    while len(words) < n:
        length = int(np.clip(rng.normal(3 + 5 * len(words) / n + 2, 1.5), 2, 14))
        word = "".join(rng.choice(letters, length))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def synthetic_calls(n_calls: int, minutes: float, *, vocabulary: list[str], exponent: float,
                    words_per_min: float, rng: np.random.Generator) -> list[dict]:
    ranks = np.arange(1, len(vocabulary) + 1, dtype=np.float64)
    p = ranks ** -exponent
    p /= p.sum()
    n_words = int(minutes * words_per_min)
    calls = []
    for k in range(n_calls):
        drawn = rng.choice(len(vocabulary), size=n_words, p=p)
        text = " ".join(vocabulary[i] for i in drawn)
        calls.append({"call_id": f"team-{k % 20:02d}/2024-05-{1 + k % 28:02d}/call-{k:05d}", "duration_s": minutes * 60,
                      "turns": [{"text": text, "words": [None] * n_words}]})
    return calls


def fit_exponent(distinct_share: float, n_words: int, vocabulary: list[str], rng: np.random.Generator) -> float:
    """The Zipf exponent whose calls of n_words words have distinct_share distinct words (bisection)."""
    lo, hi = 0.5, 2.0
    for _ in range(18):
        mid = (lo + hi) / 2
        call = synthetic_calls(1, n_words / 150.0, vocabulary=vocabulary, exponent=mid, words_per_min=150.0, rng=rng)[0]
        share = len(call_terms(call)) / n_words
        lo, hi = (mid, hi) if share > distinct_share else (lo, mid)
    return (lo + hi) / 2


def browser_timing(calls: list[dict], folder: Path) -> dict:
    """Load index.html of ``calls`` from disk in headless Chromium and search a word said in every 7th call."""
    import shutil

    from playwright.sync_api import sync_playwright

    from analyzer.outputs.html import write_index

    for k, call in enumerate(calls):
        if k % 7 == 0:
            call["turns"][0]["text"] += " cancel"
    index = write_index(calls, folder / "index.html", page_hrefs={})
    expected = sum(1 for k in range(len(calls)) if k % 7 == 0)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--headless", "--no-sandbox"])
        page = browser.new_page()
        start = time.perf_counter()
        page.goto(index.as_uri())
        page.wait_for_function("document.getElementById('page-info').textContent.indexOf('of') > 0")
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        page.fill("#f-text", "cancel")
        page.wait_for_function(f"document.getElementById('shown').textContent === '{expected}'", timeout=60_000)
        search_s = time.perf_counter() - start
        start = time.perf_counter()
        page.fill("#f-text", "canc")
        page.wait_for_function(f"document.getElementById('shown').textContent === '{expected}'", timeout=60_000)
        again_s = time.perf_counter() - start
        browser.close()
    return {"calls": len(calls), "index_html_bytes": index.stat().st_size,
            "search_index_bytes": (folder / "search-index.js").stat().st_size, "page_load_s": round(load_s, 2),
            "first_search_s_with_loading": round(search_s, 2), "next_search_s": round(again_s, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", nargs="*", type=Path, default=[], help="results folders of analyze --transcribe")
    parser.add_argument("--calls", nargs="*", type=int, default=[100, 1000, 5000], help="synthetic batch sizes")
    parser.add_argument("--minutes", type=float, default=5.0, help="length of each synthetic call")
    parser.add_argument("--vocabulary", type=int, default=30000, help="distinct words the synthetic calls draw from")
    parser.add_argument("--words-per-min", type=float, default=None,
                        help="words per minute of call in the synthetic calls (default: the real calls' rate, else 150)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--browser", action="store_true", help="time the page and a search in headless Chromium")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    out: dict = {"file": "search-index.js"}
    real = real_calls(args.results)
    share, wpm = 0.35, args.words_per_min or 150.0
    if real:
        out["real"] = size_of(real)
        out["real"]["per_call"] = [{"call_id": c["call_id"], "duration_s": c.get("duration_s"), "words": _words_of(c),
                                    "distinct": len(call_terms(c))} for c in real]
        share = float(np.mean([len(call_terms(c)) / max(_words_of(c), 1) for c in real]))
        mean_minutes = float(np.mean([float(c["duration_s"]) / 60 for c in real]))
        wpm = args.words_per_min or float(np.mean([_words_of(c) / (float(c["duration_s"]) / 60) for c in real]))
        n_fit = int(mean_minutes * wpm)
    else:
        n_fit = int(args.minutes * wpm)
    vocabulary = _vocabulary(args.vocabulary, rng)
    exponent = fit_exponent(share, n_fit, vocabulary, rng)
    out["synthetic_model"] = {"vocabulary": args.vocabulary, "zipf_exponent": round(exponent, 3),
                              "distinct_share_fitted_at_words": n_fit, "distinct_share": round(share, 3),
                              "words_per_min": round(wpm, 1), "minutes_per_call": args.minutes}
    out["synthetic"] = []
    for n in args.calls:
        calls = synthetic_calls(n, args.minutes, vocabulary=vocabulary, exponent=exponent, words_per_min=wpm, rng=rng)
        out["synthetic"].append(size_of(calls))
    if args.browser and args.calls:
        import tempfile

        from result_factory import make_result  # the tests' schema-conformant results, for the index rows

        rows = []
        for k, call in enumerate(calls):
            row = make_result(call["call_id"], seed=k % 5, duration_s=args.minutes * 60)
            row["turns"][0]["text"] = call["turns"][0]["text"]
            rows.append(row)
        with tempfile.TemporaryDirectory() as folder:
            out["browser"] = browser_timing(rows, Path(folder))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
