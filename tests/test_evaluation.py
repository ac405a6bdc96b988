import math

from app.evaluation import Query, evaluate, load_queries, mrr_at, ndcg_at, recall_at, unique_docs
from app.backend.local import LocalBackend
from app.settings import Settings


def test_metrics_on_a_hand_computed_example():
    ranking = unique_docs([7, 7, 3, 9, 3, 1])  # chunks -> documents at their best chunk's place
    assert ranking == [7, 3, 9, 1]
    relevant = frozenset({3, 1, 5})
    assert recall_at(ranking, relevant, 1) == 0
    assert recall_at(ranking, relevant, 5) == 2 / 3
    assert mrr_at(ranking, relevant) == 1 / 2
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert math.isclose(ndcg_at(ranking, relevant), dcg / ideal)


def test_query_files_mark_no_answer_queries(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"qid": "a", "query": "长江", "relevant_doc_indices": [4], "answers": ["6300"]}\n'
                    '{"qid": "b", "query": "火星", "relevant_doc_indices": []}\n', encoding="utf-8")
    a, b = load_queries(path)
    assert a.answerable and a.answers == ("6300",) and not b.answerable


def test_evaluate_runs_through_the_service_path(index_dir):
    backend = LocalBackend(Settings(index_dir=index_dir), eager=False)
    queries = [Query("1", "长江全长多少公里", frozenset({4}), ("6300公里",)),
               Query("2", "How tall is the Three Gorges Dam?", frozenset({5})),
               Query("3", "怎样给猫剪指甲", frozenset())]
    report = evaluate(backend, "mixed", queries, "hybrid", top_k=10, max_tokens=500)
    assert report.queries == 2 and report.metrics["recall@10"] == 1.0
    assert report.answer_recall == {"top_k_chunks": 1.0, "context": 1.0}
    assert report.flagged_unanswerable is not None and len(report.per_query) == 3
