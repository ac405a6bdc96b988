import numpy as np
import pytest

from app.ranking.fusion import (DISCRIMINATION_RAMP, ENGLISH_FULL_AT, LEXICAL_RAMP, FusionParams, agree, best_per_doc,
                        discrimination, english_side, fuse, lexical_trust, ranks, rrf, spread)


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


# Twelve documents of one chunk each, every one holding the whole question (coverage 1.0), as a short
# search-box question over a corpus on one theme gives them.
DOCS = np.arange(12)
DENSE_PICK = np.array([0.79, 0.70, 0.71, 0.72, 0.73, 0.80, 0.795, 0.792, 0.74, 0.75, 0.76, 0.77])


def test_flat_bm25_lets_dense_lead():
    """BM25 scores every document alike (length and term frequency decide its order) and its best is not
    among dense's best three: BM25 cannot tell them apart, so dense's pick leads. Coverage alone gave BM25
    full trust and its pick."""
    flat = np.array([10.0, 9.4, 9.3, 9.2, 9.1, 9.0, 9.0, 9.0, 9.1, 9.2, 9.3, 9.4])
    assert spread(flat, DOCS) < DISCRIMINATION_RAMP[0] and not agree(flat, DENSE_PICK, DOCS)
    assert _order(fuse(flat, DENSE_PICK, 1.0, FusionParams()))[0] == 0  # coverage only
    assert _order(fuse(flat, DENSE_PICK, 1.0, FusionParams(), docs=DOCS))[0] == 5


def test_one_sharp_bm25_winner_counts():
    """One document holds the question's words far more than the rest (a rare name): BM25 leads."""
    sharp = np.array([10.0, 2.0, 1.5, 1.0, 1.0, 3.0, 2.0, 1.0, 0.5, 0.5, 0.0, 0.0])
    assert spread(sharp, DOCS) > DISCRIMINATION_RAMP[1] and discrimination(sharp, DENSE_PICK, DOCS) == 1.0
    assert _order(fuse(sharp, DENSE_PICK, 1.0, FusionParams(), docs=DOCS))[0] == 0


def test_agreement_on_the_top_is_evidence_even_when_bm25_is_flat():
    """Flat BM25 whose best document dense also ranks in its top three: both retrievers point at it."""
    flat = np.array([9.0, 9.4, 9.3, 9.2, 9.1, 9.0, 10.0, 9.0, 9.1, 9.2, 9.3, 9.4])  # best: document 6
    assert agree(flat, DENSE_PICK, DOCS) and discrimination(flat, DENSE_PICK, DOCS) == 1.0
    assert _order(fuse(flat, DENSE_PICK, 1.0, FusionParams(), docs=DOCS))[0] == 6


def test_spread_counts_documents_not_chunks():
    """Five chunks of one long document are one competitor, not five: the spread is over documents."""
    bm25 = np.array([10.0, 9.9, 9.8, 9.7, 9.6, 2.0])
    docs = np.array([0, 0, 0, 0, 0, 1])
    assert spread(bm25, docs) > 0.9
    assert best_per_doc(bm25, docs)[0].tolist() == [0, 1]


# A Chinese question over Chinese articles and one English paper, BM25 of each side over the same candidates:
# two Chinese articles holding some of its words, a stray English page repeating one generic word ("model"),
# the English paper holding most of its concepts in English (held: app/ranking/confidence.held_in_translation).
CHINESE = np.array([4.0, 3.0, 0.0, 0.0])  # article, article, stray page, paper
ENGLISH = np.array([0.0, 0.0, 9.0, 7.0])  # the stray page's "model" x 20 beats the paper's several words once
HELD = np.array([0.0, 0.0, 0.03, 0.6])


def _both(held, trust=1.0):
    return np.maximum(CHINESE, english_side(ENGLISH, held, float(CHINESE.max()), trust))


def test_a_stray_english_page_with_one_generic_word_stays_below_the_chinese_articles():
    """Scaled by what it holds of the question, the stray page scores under every Chinese article; at one weight
    of 1 for every English match it ranked with the best article, above the second."""
    assert _order(_both(HELD)) == [0, 3, 1, 2]
    assert _both(np.ones(4))[2] == CHINESE.max() > CHINESE[1]


def test_an_english_passage_holding_the_question_counts_like_the_best_chinese_match():
    """The paper holds more than ENGLISH_FULL_AT of the question in English: its score reaches the Chinese
    scale in full (trust 1) and, with dense's vote, it leads."""
    assert HELD[3] >= ENGLISH_FULL_AT
    both = _both(HELD)
    assert both[3] == pytest.approx(CHINESE.max() * ENGLISH[3] / ENGLISH.max())
    dense = np.array([0.70, 0.71, 0.60, 0.80])
    assert _order(fuse(both, dense, 1.0, FusionParams(), docs=np.arange(4)))[0] == 3
    assert _order(_both(HELD, trust=0.5)) == [0, 1, 3, 2]  # half the weight: behind the articles
    assert not english_side(np.zeros(3), np.ones(3), 4.0, 1.0).any()  # no English match, nothing added
