"""Vector-side build helpers."""
import numpy as np

from indexing.dense import SCRIPT_PRIOR_CHUNKS, script_groups


def test_script_groups_label_passages_and_average_each_script_towards_the_corpus_mean():
    texts = ["长江是中国第一长河", "Retrieval-augmented generation", "黄河含沙量大", "GPT-4 技术报告解读"]
    vectors = np.arange(16, dtype=np.float32).reshape(4, 4)
    scripts, means = script_groups(texts, vectors)
    assert scripts.tolist() == [1, 0, 1, 1]
    overall, prior = vectors.mean(axis=0), SCRIPT_PRIOR_CHUNKS
    assert np.allclose(means[0], (vectors[1] + prior * overall) / (1 + prior))
    assert np.allclose(means[1], (vectors[[0, 2, 3]].sum(axis=0) + prior * overall) / (3 + prior))


def test_a_large_script_group_keeps_its_own_mean_and_an_absent_one_gets_the_corpus_mean():
    chinese = np.tile(np.array([1, 0, 0], dtype=np.float32), (10_000, 1))
    english = np.tile(np.array([0, 1, 0], dtype=np.float32), (5_000, 1))
    _, means = script_groups(["中文"] * 10_000 + ["English"] * 5_000, np.vstack([chinese, english]))
    assert means[1][0] > 0.99 and means[0][1] > 0.98
    _, means = script_groups(["只有中文"], np.ones((1, 3), dtype=np.float32))
    assert np.allclose(means, 1.0)
