from app.ranking.diversity import diverse_top_k, group_representatives


def test_plain_order_when_constraints_do_not_bind():
    scores = [0.9, 0.8, 0.7, 0.6]
    assert diverse_top_k(scores, ["a", "b", "c", "d"], top_k=3, min_docs=2, max_per_doc=2) == [0, 1, 2]


def test_max_per_doc_caps_a_document():
    scores = [0.9, 0.8, 0.7, 0.6, 0.5]
    groups = ["a", "a", "a", "b", "c"]
    assert diverse_top_k(scores, groups, top_k=4, min_docs=1, max_per_doc=2) == [0, 1, 3, 4]


def test_min_docs_reserves_the_best_chunk_of_each_needed_document_and_keeps_score_order():
    scores = [0.9, 0.85, 0.8, 0.75, 0.3, 0.2]
    groups = ["a", "b", "a", "b", "c", "d"]
    picked = diverse_top_k(scores, groups, top_k=4, min_docs=4, max_per_doc=2)
    assert {groups[i] for i in picked} == {"a", "b", "c", "d"}
    assert picked == [0, 1, 4, 5]  # ordered by score, not by document
    assert [scores[i] for i in picked] == sorted((scores[i] for i in picked), reverse=True)


def test_min_docs_is_limited_by_the_documents_that_matched():
    picked = diverse_top_k([0.9, 0.8, 0.7], ["a", "a", "b"], top_k=5, min_docs=5, max_per_doc=5)
    assert picked == [0, 1, 2]


def test_groups_can_be_near_duplicate_clusters():
    scores = [0.9, 0.89, 0.5]
    groups = [7, 7, 9]  # two copies of one article share group 7
    assert diverse_top_k(scores, groups, top_k=2, min_docs=2, max_per_doc=1) == [0, 2]


def test_a_near_duplicate_group_is_represented_by_its_best_document_only():
    scores = [0.9, 0.85, 0.8, 0.7, 0.6]
    docs = [10, 11, 10, 12, 11]  # 10 and 11 are copies of one article (group "g"); 12 is another
    groups = ["g", "g", "g", "h", "g"]
    kept = group_representatives(scores, docs, groups)
    assert kept == [0, 2, 3]
    assert diverse_top_k([scores[i] for i in kept], [groups[i] for i in kept], 3, 2, 2) == [0, 1, 2]
