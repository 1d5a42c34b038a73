"""Screenshots of the review page for the README: the queue, one artifact view and the progress page.

Run against a running ``kgenrich serve`` (e.g. over the ``kgenrich demo`` store); it only
reads (logs in, opens the queue, the first artifact and the progress page), and drives Debian's chromium with
Playwright (never a downloaded browser).  The PNGs get a 64-colour palette to stay small.

    python docs/review_screenshots.py --url http://127.0.0.1:8000 --user alice --password ... --out docs
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def shrink(path: Path) -> None:
    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=64)
    small.save(path, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--out", default="docs")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="kgenrich-chromium-") as profile, sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(profile, executable_path=args.chromium, args=ARGS,
                                                       headless=True, viewport={"width": 1200, "height": 760})
        page = browser.new_page()
        page.set_default_timeout(120_000)
        page.goto(args.url + "/login?next=/queue")
        page.fill("input[name=username]", args.user)
        page.fill("input[name=password]", args.password)
        page.click("button[type=submit]")
        page.wait_for_selector("li.item.current")
        page.wait_for_load_state("networkidle")  # the thumbnails on screen
        page.screenshot(path=str(out / "review-queue.png"))
        shrink(out / "review-queue.png")
        page.click("li.item.current a.artifact")
        page.wait_for_selector("section.tasks")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(out / "review-artifact.png"), full_page=True)
        shrink(out / "review-artifact.png")
        page.goto(args.url + "/stats")
        page.wait_for_selector("#totals")
        page.screenshot(path=str(out / "review-stats.png"))
        shrink(out / "review-stats.png")
        browser.close()
    print(f"wrote {out / 'review-queue.png'}, {out / 'review-artifact.png'} and {out / 'review-stats.png'}")


if __name__ == "__main__":
    main()
