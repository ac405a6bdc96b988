import numpy as np

from app.fusion import LEXICAL_RAMP, FusionParams, fuse, lexical_trust, ranks, rrf


def test_ranks_are_one_based_and_absent_is_zero():
    scores = np.array([0.5, 2.0, 0.0, 1.0])
    assert list(ranks(scores, scores > 0)) == [3, 1, 0, 2]


def test_rrf_matches_the_formula():
    fused = rrf([np.array([1, 2]), np.array([2, 0])], [1.0, 1.0], k=60)
    assert np.allclose(fused, [1 / 61 + 1 / 62, 1 / 62])


BM25 = np.array([10.0, 8.0, 0.0, 1.0])
DENSE = np.array([0.70, 0.72, 0.90, 0.71])


def _order(fused):
    return list(np.argsort(-fused, kind="stable"))


def test_every_knob_moves_the_ranking():
    base = FusionParams("adaptive", 1.0, 1.0)
    assert _order(fuse(BM25, DENSE, 1.0, base))[0] == 0
    assert _order(fuse(BM25, DENSE, 1.0, FusionParams("adaptive", 0.1, 1.0)))[0] == 2  # bm25 weight
    assert _order(fuse(BM25, DENSE, 1.0, FusionParams("adaptive", 1.0, 5.0)))[0] == 2  # dense weight
    assert _order(fuse(BM25, DENSE, 0.05, base))[0] == 2  # coverage: the query is foreign to the corpus
    assert _order(fuse(BM25, DENSE, 0.5, base)) != _order(fuse(BM25, DENSE, 0.9, base))  # the ramp in between
    rrf_default = _order(fuse(BM25, DENSE, 1.0, FusionParams("rrf", 1.0, 1.0, rrf_k=60)))
    rrf_dense = _order(fuse(BM25, DENSE, 1.0, FusionParams("rrf", 0.2, 1.0, rrf_k=1)))
    assert rrf_default != rrf_dense  # rrf weights and k


def test_without_dense_scores_fusion_is_bm25():
    assert list(fuse(BM25, None, 1.0, FusionParams())) == list(BM25)


def test_lexical_trust_ramps_between_its_bounds():
    lo, hi = LEXICAL_RAMP
    assert lexical_trust(lo) == 0 and lexical_trust(hi) == 1 and 0 < lexical_trust((lo + hi) / 2) < 1


def test_title_vectors_count_only_as_far_as_bm25_cannot():
    dense = np.array([0.80, 0.78])
    title = np.array([0.70, 0.90])  # the second chunk's document has the matching title
    bm25 = np.array([0.0, 0.0])
    cross_language = fuse(bm25, dense, 0.1, FusionParams(), title)
    assert _order(cross_language) == [1, 0]
    same_language = fuse(np.array([5.0, 4.0]), dense, 0.9, FusionParams(), title)
    assert np.allclose(same_language, fuse(np.array([5.0, 4.0]), dense, 0.9, FusionParams()))
    assert _order(fuse(bm25, dense, 0.1, FusionParams(title_weight=0), title)) == [0, 1]
