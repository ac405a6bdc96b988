#!/usr/bin/env python
"""Extraction throughput on real PDFs: ours (indexing/extract/pdf.py) against pdftotext, same files, same run.

For each PDF: pages/s and characters/s of ``PdfExtractor`` in this process, of the same through the bounded
worker (``ExtractionPool``, what the folder indexer runs), of poppler's ``pdftotext`` (UTF-8, reading
order mode) as a subprocess, and of pypdf when it is installed (not a dependency: ``pip install pypdf``). Each figure is the best of ``--rounds`` runs, in CPU seconds (this process's,
or the child's) as well as wall seconds, since a shared machine's wall time drifts with its load. Also
counted: CJK characters in each output, which shows a reader that drops a font's text.

    bash tests/fixtures/extract/get_debian_pdfs.sh
    python scripts/bench_extract.py                      # the Debian PDFs
    python scripts/bench_extract.py some.pdf other.pdf
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexing.extract.pdf import PdfExtractor  # noqa: E402
from indexing.extract.protocol import Limits  # noqa: E402
from indexing.extract.sandbox import ExtractionPool  # noqa: E402

DEBIAN = ROOT / "tests" / "fixtures" / "extract" / "debian"
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass
class Run:
    wall: float
    cpu: float | None  # None where it cannot be told apart (the worker lives on between files)
    chars: int
    cjk: int

    @property
    def seconds(self) -> float:
        return self.cpu if self.cpu is not None else self.wall


def _best(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: r.seconds)


def ours(path: Path) -> Run:
    cpu, wall = time.process_time(), time.perf_counter()
    result = PdfExtractor().extract(path, Limits())
    text = "\n".join(b.text for b in result.blocks)
    return Run(time.perf_counter() - wall, time.process_time() - cpu, len(text), len(_CJK.findall(text)))


def in_worker(pool: ExtractionPool, path: Path) -> Run:
    wall = time.perf_counter()
    result = pool.extract(path)
    wall = time.perf_counter() - wall
    text = "\n".join(b.text for b in result.blocks)
    return Run(wall, None, len(text), len(_CJK.findall(text)))


def pypdf_text(path: Path) -> Run:
    """pypdf (BSD, pure Python), when installed: the permissive alternative to PDFium, for comparison."""
    from pypdf import PdfReader

    cpu, wall = time.process_time(), time.perf_counter()
    text = "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
    return Run(time.perf_counter() - wall, time.process_time() - cpu, len(text), len(_CJK.findall(text)))


def pdftotext(path: Path) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=False).stdout
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = out.decode("utf-8", errors="replace")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Run(wall, cpu, len(text), len(_CJK.findall(text)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pdfs", nargs="*", type=Path, help="PDFs to read (default: tests/fixtures/extract/debian/*.pdf)")
    p.add_argument("--rounds", type=int, default=3, help="runs per tool and file; the best (least CPU) is shown")
    args = p.parse_args(argv)
    pdfs = args.pdfs or sorted(DEBIAN.glob("*.pdf"))
    if not pdfs:
        print("no PDFs: run tests/fixtures/extract/get_debian_pdfs.sh or name some", file=sys.stderr)
        return 2
    has_pdftotext = shutil.which("pdftotext") is not None
    has_pypdf = importlib.util.find_spec("pypdf") is not None
    import pypdfium2 as pdfium

    print("| file | pages | tool | wall s | CPU s | pages/s | chars/s | chars | CJK chars |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    totals: dict[str, list[float]] = {}
    with ExtractionPool() as pool:
        pool.extract(pdfs[0])  # start the worker outside the timings
        for path in pdfs:
            pdf = pdfium.PdfDocument(str(path))
            pages = len(pdf)
            pdf.close()
            rows = {"ours": _best([ours(path) for _ in range(args.rounds)]),
                    "ours, in the worker (wall)": _best([in_worker(pool, path) for _ in range(args.rounds)])}
            if has_pdftotext:
                rows["pdftotext"] = _best([pdftotext(path) for _ in range(args.rounds)])
            if has_pypdf:
                rows["pypdf"] = _best([pypdf_text(path) for _ in range(args.rounds)])
            for tool, run in rows.items():
                cpu = f"{run.cpu:.2f}" if run.cpu is not None else "–"
                print(f"| {path.name} | {pages} | {tool} | {run.wall:.2f} | {cpu} | {pages / run.seconds:.1f} | "
                      f"{run.chars / run.seconds:,.0f} | {run.chars:,} | {run.cjk:,} |")
                total = totals.setdefault(tool, [0.0, 0.0, 0.0])
                total[0] += pages
                total[1] += run.seconds
                total[2] += run.chars
    for tool, (pages, seconds, chars) in totals.items():
        print(f"| all | {pages:.0f} | {tool} | | {seconds:.2f} | {pages / seconds:.1f} | {chars / seconds:,.0f} | "
              f"{chars:,.0f} | |")
    print("\npages/s and chars/s per CPU second (ours, pdftotext) or wall second (the worker column).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
