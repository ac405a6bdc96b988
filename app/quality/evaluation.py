"""Retrieval quality: document-level metrics over labelled queries, run through the backend the service uses."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from app.backend.protocol import Backend
from app.schemas import ContextRequest, SearchRequest, SearchResult
from app.agent.tokens import truncate_to_tokens
from indexing.tokenizer import script_of

RECALL_AT = (1, 5, 10, 100)
BUDGETS = (60, 100, 200, 400, 800)


@dataclass(frozen=True)
class Query:
    qid: str
    query: str
    relevant: frozenset[int]
    answers: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.relevant)


def load_queries(path: Path) -> list[Query]:
    queries = []
    for line_no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        relevant = frozenset(row.get("relevant_doc_indices") or [])
        queries.append(Query(str(row.get("qid", line_no)), row["query"], relevant, tuple(row.get("answers") or ())))
    return queries


def unique_docs(doc_indices: list[int]) -> list[int]:
    """The document ranking a chunk ranking implies: each document at its best chunk's place."""
    seen: dict[int, None] = {}
    for d in doc_indices:
        seen.setdefault(d, None)
    return list(seen)


def recall_at(ranking: list[int], relevant: frozenset[int], k: int) -> float:
    return len(relevant & set(ranking[:k])) / len(relevant) if relevant else 0.0


def relevant_ranks(ranking: list[int], relevant: frozenset[int]) -> list[int]:
    """1-based ranks at which relevant documents were found: all a Recall@k curve needs of a query."""
    return [i + 1 for i, d in enumerate(ranking) if d in relevant]


def recall_curve(per_query: list[dict], max_k: int = 100) -> list[float]:
    """Mean Recall@k for k = 1..max_k over the answerable queries of ``ModeReport.per_query``."""
    rows = [r for r in per_query if r.get("relevant")]
    curve = []
    for k in range(1, max_k + 1):
        total = sum(sum(rank <= k for rank in r["relevant_ranks"]) / r["relevant"] for r in rows)
        curve.append(round(total / max(len(rows), 1), 4))
    return curve


def mrr_at(ranking: list[int], relevant: frozenset[int], k: int = 10) -> float:
    return next((1.0 / (i + 1) for i, d in enumerate(ranking[:k]) if d in relevant), 0.0)


def ndcg_at(ranking: list[int], relevant: frozenset[int], k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranking[:k]) if d in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


@dataclass
class ModeReport:
    mode: str
    queries: int
    metrics: dict[str, float]
    answer_recall: dict[str, float] = field(default_factory=dict)
    flagged_answerable: float = 0.0  # share of answerable queries marked low_confidence (false flags)
    flagged_unanswerable: float | None = None  # share of no-answer queries marked low_confidence
    per_query: list[dict] = field(default_factory=list)
    # per question language (latin: "en", else "zh") and kind ("answerable", "no-answer"): [flagged, queries]
    flags_by_language: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    # answer in context per token budget: {"evidence" | "baseline": {budget: share}}, see answer_in_budget
    budgets: dict[str, dict[int, float]] = field(default_factory=dict)
    budget_queries: int = 0


def baseline_text(results: list[SearchResult], budget: int, cited: bool) -> str:
    """The naive context: the top chunks concatenated in rank order and cut at ``budget`` tokens (each headed by
    its citation when the answer is the document being cited)."""
    blocks = [f"{r.citation}\n{r.content}" if cited else r.content for r in results]
    return truncate_to_tokens("\n\n".join(blocks), budget)


def answer_in(text: str, q: Query, citations: dict[int, list[str]]) -> bool:
    """A gold answer string in ``text``; for a question without one, a citation of a relevant document."""
    if q.answers:
        return any(a in text for a in q.answers)
    return any(c in text for d in q.relevant for c in citations.get(d, ()))


def answer_in_budget(backend: Backend, corpus: str, q: Query, mode: str, results: list[SearchResult],
                     budgets: tuple[int, ...], answer_k: int, diverse: bool) -> dict[str, dict[int, bool]]:
    """Is the answer in ``POST /v1/context``'s text at each budget, and in the top-``answer_k``-chunks baseline?"""
    top = results[:answer_k]
    out: dict[str, dict[int, bool]] = {"evidence": {}, "baseline": {}}
    for budget in budgets:
        ctx = backend.context(ContextRequest(corpus=corpus, query=q.query, mode=mode, top_k=answer_k,
                                             max_tokens=budget, diverse=diverse))
        citations: dict[int, list[str]] = {}
        for s in ctx.sources:
            citations.setdefault(s.doc_index, []).extend(s.citations)
        for r in top:
            citations.setdefault(r.doc_index, []).append(r.citation)
        out["evidence"][budget] = answer_in(ctx.context, q, citations)
        out["baseline"][budget] = answer_in(baseline_text(top, budget, not q.answers), q, citations)
    return out


def evaluate(backend: Backend, corpus: str, queries: list[Query], mode: str, top_k: int = 100,
             answer_k: int = 10, max_tokens: int = 2000, diverse: bool = True,
             budgets: tuple[int, ...] = ()) -> ModeReport:
    """Ranking metrics over the answerable queries; flag rates over answerable and no-answer ones apart; with
    ``budgets``, answer in context per budget against the baseline (answerable queries)."""
    budget_hits: dict[str, dict[int, int]] = {"evidence": dict.fromkeys(budgets, 0),
                                              "baseline": dict.fromkeys(budgets, 0)}
    budget_queries = 0
    sums = {f"recall@{k}": 0.0 for k in RECALL_AT} | {"mrr@10": 0.0, "ndcg@10": 0.0}
    copy_slots = 0
    answer_hits = {"top_k_chunks": 0, "context": 0}
    with_answers = answerable = 0
    flags = {True: 0, False: 0}
    by_language: dict[str, dict[str, list[int]]] = {}
    per_query = []
    for q in queries:
        resp = backend.search(SearchRequest(corpus=corpus, query=q.query, top_k=top_k, mode=mode, diverse=diverse))
        ranking = unique_docs([r.doc_index for r in resp.results])
        flags[q.answerable] += resp.low_confidence
        cell = by_language.setdefault(language_of(q.query), {}).setdefault(
            "answerable" if q.answerable else "no-answer", [0, 0])
        cell[0] += resp.low_confidence
        cell[1] += 1
        copy_slots += copies_in_top(resp.results)
        row = {"qid": q.qid, "low_confidence": resp.low_confidence, "confidence": resp.confidence,
               "top_docs": ranking[:5], "took_ms": resp.took_ms}
        if q.answerable:
            answerable += 1
            row["relevant"], row["relevant_ranks"] = len(q.relevant), relevant_ranks(ranking, q.relevant)
            for k in RECALL_AT:
                sums[f"recall@{k}"] += recall_at(ranking, q.relevant, k)
            row["mrr@10"] = mrr_at(ranking, q.relevant)
            sums["mrr@10"] += row["mrr@10"]
            sums["ndcg@10"] += ndcg_at(ranking, q.relevant)
        if q.answers:
            with_answers += 1
            top_text = "\n".join(r.content for r in resp.results[:answer_k])
            answer_hits["top_k_chunks"] += any(a in top_text for a in q.answers)
            ctx = backend.context(ContextRequest(corpus=corpus, query=q.query, mode=mode, top_k=answer_k,
                                                 max_tokens=max_tokens, diverse=diverse))
            answer_hits["context"] += any(a in ctx.context for a in q.answers)
        if budgets and q.answerable:
            budget_queries += 1
            found = answer_in_budget(backend, corpus, q, mode, resp.results, budgets, answer_k, diverse)
            row["budgets"] = {kind: [b for b, ok in by.items() if ok] for kind, by in found.items()}
            for kind, by in found.items():
                for b, ok in by.items():
                    budget_hits[kind][b] += ok
        per_query.append(row)
    metrics = {k: round(v / max(answerable, 1), 4) for k, v in sums.items()}
    answer_recall = {k: round(v / with_answers, 4) for k, v in answer_hits.items()} if with_answers else {}
    unanswerable = len(queries) - answerable
    metrics["copy_slots@10"] = round(copy_slots / max(len(queries), 1), 4)
    shares = {kind: {b: round(n / budget_queries, 4) for b, n in by.items()} for kind, by in budget_hits.items()} \
        if budget_queries else {}
    return ModeReport(mode, answerable, metrics, answer_recall, round(flags[True] / max(answerable, 1), 4),
                      round(flags[False] / unanswerable, 4) if unanswerable else None, per_query, by_language,
                      shares, budget_queries)


def language_of(query: str) -> str:
    """"en" for a question in Latin letters, "zh" otherwise (the split the weak-match flag is reported by)."""
    return "en" if script_of(query) == "latin" else "zh"


def copies_in_top(results: list, k: int = 10) -> int:
    """Documents among the top ``k`` that are near-duplicates of a document ranked above them."""
    group_of = {r.doc_index: r.dup_group for r in results}
    groups = [group_of[d] for d in unique_docs([r.doc_index for r in results])[:k]]
    return len(groups) - len(set(groups))
