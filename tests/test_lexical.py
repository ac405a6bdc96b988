import bm25s
import numpy as np
import pytest
from bm25s.tokenization import Tokenized

from indexing.lexical import VectorizedBM25, Vocabulary
from indexing.tokenizer import tokenize

DOCS = ["长江是中国第一长河，长江流域面积广。", "黄河含沙量大。黄河下游是地上河。", "GPT-4 和 KV缓存", "长江 黄河 珠江", ""]


@pytest.mark.parametrize("method", ["lucene", "robertson", "atire", "bm25+"])
def test_vectorized_build_gives_the_same_matrix_as_bm25s(method):
    vocab = Vocabulary()
    ids = [vocab.encode(tokenize(d)) for d in DOCS]
    rng = np.random.default_rng(0)
    ids += [rng.integers(0, len(vocab.ids), rng.integers(1, 30)).astype(np.int32) for _ in range(200)]
    reference, fast = bm25s.BM25(method=method), VectorizedBM25(method=method)
    reference.index(Tokenized(ids=ids, vocab=dict(vocab.ids)), show_progress=False)  # index() adds "" to the vocab
    fast.index(Tokenized(ids=ids, vocab=dict(vocab.ids)), show_progress=False)
    for key in ("indices", "indptr"):
        assert np.array_equal(reference.scores[key], fast.scores[key])
    assert np.allclose(reference.scores["data"], fast.scores["data"], rtol=1e-6)
    for query in (["长江"], ["黄河", "长江"], ["gpt-4", "缓存"]):
        assert np.allclose(reference.get_scores(query), fast.get_scores(query), rtol=1e-6)


def test_vocabulary_gives_stable_ids():
    vocab = Vocabulary()
    assert list(vocab.encode(["a", "b", "a"])) == [0, 1, 0]
    assert list(vocab.encode(["c", "a"])) == [2, 0]
