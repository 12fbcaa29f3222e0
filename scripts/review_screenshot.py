"""Screenshot of the review app (README "Review calls", docs/img/review-call.png) on a real analysed call.

    python scripts/review_screenshot.py RESULTS [--out docs/img/review-call.png]

Starts ``call-analyzer serve`` on a free port over RESULTS (a copy you do not mind annotating: the
script relabels two turns, disputes the first failed QA rule and adds a coaching note, as a reviewer
would), opens the first call in headless Chromium and saves a full-page screenshot.
"""

from __future__ import annotations

import argparse
import shutil
import urllib.parse
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results")
    parser.add_argument("--out", default="docs/img/review-call.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from analyzer.review.app import start_server

    server = start_server(args.results)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server.url)
            call_id = page.locator("#calls tbody tr[data-id]").first.get_attribute("data-id")
            page.goto(server.url + "call?" + urllib.parse.urlencode({"id": call_id}))
            page.wait_for_function("document.getElementById('player').readyState >= 1")
            page.fill("#reviewer", "Ann (QA)")
            rows = page.locator("#turn-list td.rv")
            for number, label in ((1, "neutral"), (4, "angry")):
                rows.nth(number).locator(f"button[data-label='{label}']").click()
                page.wait_for_function("() => document.getElementById('review-status').textContent.indexOf('saved') >= 0")
            failed = page.locator("#qa-review tr", has=page.locator("span.status-pill.failed")).first
            if failed.count():
                failed.locator("input.comment").fill("the silence was a hold the customer asked for")
                failed.locator("button[data-verdict='dispute']").click()
            else:  # every rule passed: the reviewer agrees with the first one
                first = page.locator("#qa-review tr[data-rule]").first
                first.locator("input.comment").fill("checked: the agent sounds firm, not angry")
                first.locator("button[data-verdict='agree']").click()
            page.wait_for_function("() => document.querySelector('#qa-review .verdict:not(:empty)') !== null")
            page.fill("#note-text", "Good: summarised the repair before quoting the price")
            page.fill("#note-time", "62")
            page.click("#note-add")
            page.wait_for_function("() => document.querySelectorAll('#notes-list li').length > 0")
            page.evaluate("document.getElementById('review-status').textContent = ''")
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        server.stop()
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
