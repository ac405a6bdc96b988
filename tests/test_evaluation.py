import json
import math

from app.cli import main as zh_rag
from app.quality.evaluation import (RECALL_AT, Query, evaluate, load_queries, mrr_at, ndcg_at, recall_at, recall_curve,
                            unique_docs)
from app.backend.local import LocalBackend
from app.settings import Settings
from tests.conftest import ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


def test_answer_in_context_per_budget_is_measured_next_to_the_cut_baseline(index_dir):
    """A span answer counts when its string is in the text; an English question's answer is its document cited."""
    backend = LocalBackend(Settings(index_dir=index_dir), eager=False)
    queries = [Query("1", "长江全长多少公里", frozenset({4}), ("6300公里",)),
               Query("2", "How tall is the Three Gorges Dam?", frozenset({5}))]
    report = evaluate(backend, "mixed", queries, "bm25", top_k=10, budgets=(30, 2000))
    assert report.budget_queries == 2 and set(report.budgets) == {"evidence", "baseline"}
    assert report.budgets["evidence"][2000] == report.budgets["baseline"][2000] == 1.0
    assert all(set(row["budgets"]) == {"evidence", "baseline"} for row in report.per_query)


def test_the_recall_curve_agrees_with_recall_at_k(index_dir):
    """The curve is computed from the ranks kept per query; at k = 1, 5, 10 it is the reported Recall@k."""
    backend = LocalBackend(Settings(index_dir=index_dir), eager=False)
    queries = [Query("1", "长江全长多少公里", frozenset({4})), Query("2", "三峡大坝 公交", frozenset({5, 6, 7})),
               Query("3", "怎样给猫剪指甲", frozenset())]
    report = evaluate(backend, "mixed", queries, "bm25", top_k=10)
    curve = recall_curve(report.per_query, 10)
    assert len(curve) == 10 and curve == sorted(curve)
    for k in (1, 5, 10):
        assert curve[k - 1] == report.metrics[f"recall@{k}"]


def test_zh_rag_eval_writes_its_json_report_and_a_recall_plot(tmp_path):
    """`zh-rag eval --out r.json` on the bundled sample (BM25 only, nothing to embed) writes r.json and r.png."""
    out = tmp_path / "report.json"
    code = zh_rag(["eval", "--corpus", str(ROOT / "data" / "cmrc2018_sample.json"),
                   "--queries", str(ROOT / "data" / "cmrc2018_sample_queries.jsonl"), "--modes", "bm25",
                   "--index-dir", str(tmp_path / "idx"), "--out", str(out)])
    assert code == 0
    bm25 = json.loads(out.read_text(encoding="utf-8"))["modes"]["bm25"]
    assert bm25["queries"] == 120 and len(bm25["recall_curve"]) == 100
    assert [bm25["recall_curve"][k - 1] for k in RECALL_AT] == [bm25["metrics"][f"recall@{k}"] for k in RECALL_AT]
    png = out.with_suffix(".png").read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000
    assert set(bm25["budgets"]["evidence"]) == {"60", "100", "200", "400", "800"}  # JSON keys
    budgets = out.with_name("report-budgets.png").read_bytes()
    assert budgets.startswith(PNG_SIGNATURE) and len(budgets) > 10_000
