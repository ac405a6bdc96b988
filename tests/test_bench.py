"""The benchmark runs end to end on a tiny corpus and writes its JSON and latency plot (figures are not asserted)."""
import json
import subprocess
import sys

from tests.conftest import ROOT, sample_docs, write_corpus


def test_bench_runs_on_a_tiny_corpus_and_writes_json_and_a_plot(tmp_path):
    corpus = write_corpus(tmp_path / "tiny.json", sample_docs(3))
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "scripts/bench.py", "--corpus", str(corpus), "--scale-source", str(tmp_path / "none.json"),
         "--dense-sample", "4", "--embedders", "onnx", "--index-dir", str(tmp_path / "idx"), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["embedders"]["onnx"]["build_path_chars_per_s"] > 0
    assert report["dense_build"]["chars_per_s_ours"] > 0 and report["corpus_lexical_build"]["chunks"] > 0
    assert "scale measurements skipped" in done.stdout or "skipped" in done.stdout
    bm25 = report["queries_corpus"]["_latencies_ms"]["bm25"]  # the measurements behind the percentiles
    assert len(bm25) == 100 and report["queries_corpus"]["bm25"]["p50_ms"] > 0
    png = out.with_suffix(".png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
