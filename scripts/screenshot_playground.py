#!/usr/bin/env python
"""Screenshot the playground with search results: docs/playground.png (the picture in the README).

Indexes the bundled sample (hybrid, bundled embedder) in a temporary folder, starts the real service on
127.0.0.1, searches a question in headless Debian Chromium (driven by Playwright, no downloaded browser)
and saves the page. Needs `apt-get install chromium fonts-noto-cjk`.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from indexing.build import BuildOptions, build_index  # noqa: E402
from indexing.settings import IndexSettings  # noqa: E402
from app.serving.devserver import start_server  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "playground.png")
    p.add_argument("--query", default="泡泡战士是哪个公司开发的？")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = Path(tmp)
        build_index(ROOT / "data" / "cmrc2018_sample.json",
                    BuildOptions.from_settings(IndexSettings(index_dir=index_dir), "cmrc-sample"), progress=False)
        server = start_server(index_dir, {"cmrc-sample"})
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                page.goto(server.url + "/")
                page.select_option("#corpus", "cmrc-sample")
                page.fill("#question", args.query)
                page.fill("#top_k", "5")
                page.click("#run-search")
                page.wait_for_selector("#results .result")
                page.screenshot(path=str(args.out))
                browser.close()
        finally:
            server.stop()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
