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
    assert report["embedders"]["onnx"]["chars_per_s_by_setting"]["run_tokens_2048_batch_16"] > 0  # the run-size sweep
    assert report["dense_build"]["chars_per_s_ours"] > 0 and report["corpus_lexical_build"]["chunks"] > 0
    assert "scale measurements skipped" in done.stdout or "skipped" in done.stdout
    bm25 = report["queries_corpus"]["_latencies_ms"]["bm25"]  # the measurements behind the percentiles
    assert len(bm25) == 100 and report["queries_corpus"]["bm25"]["p50_ms"] > 0
    png = out.with_suffix(".png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_new_question_throughput_is_measured_per_built_index(tmp_path):
    """Two indexes of one corpus built by two embedders are compared through the real service."""
    from indexing.build import build_index
    from tests.conftest import options

    corpus = write_corpus(tmp_path / "tiny.json", sample_docs(3))
    build_index(corpus, options(tmp_path / "idx", "tiny", embedder="onnx"), progress=False)
    out = tmp_path / "new.json"
    done = subprocess.run([sys.executable, "-m", "app.cli", "bench", "--new-questions", str(tmp_path / "idx" / "tiny"),
                           "--http-seconds", "2", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = json.loads(out.read_text())["new_questions"].values()
    assert row["embedder"] == "onnx" and row["requests"] > 0 and row["errors"] == 0
