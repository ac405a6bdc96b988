from app.context import TRUNCATION_MARK, assemble, merge_passages
from app.engines.protocol import ChunkRecord as Chunk
from app.search import Hit
from app.tokens import count_tokens

BODY = "第一句讲长江。第二句讲黄河。第三句讲珠江。第四句讲淮河。"


def hit(doc, idx, start, end, score, title="河流"):
    return Hit(Chunk(idx, doc, idx, title, BODY[start:end], None, start, end), score, 1.0, 0.5)


def test_overlapping_and_adjacent_chunks_merge_into_one_passage_with_all_citations():
    hits = [hit(0, 1, 7, 21, 0.9), hit(0, 0, 0, 14, 0.8), hit(0, 2, 21, 28, 0.3), hit(1, 0, 0, 7, 0.5, "另一篇")]
    passages = merge_passages(hits)
    assert passages[0].text == BODY and passages[0].chunk_indices == [0, 1, 2]
    assert passages[0].citations == [f'[long_context: "河流", chunk {i}]' for i in range(3)]
    assert passages[1].title == "另一篇"


def test_non_adjacent_chunks_of_one_document_stay_separate():
    passages = merge_passages([hit(0, 0, 0, 7, 0.9), hit(0, 3, 21, 28, 0.8)])
    assert [p.chunk_indices for p in passages] == [[0], [3]]


def test_context_never_exceeds_the_budget_and_says_when_it_cut():
    long_body = BODY * 5
    hits = [Hit(Chunk(0, 0, 0, "河流", long_body, None, 0, len(long_body)), 0.9, 1.0, 0.5)]
    for budget in [1, 10, 30, 40, 200]:
        ctx = assemble(hits, budget)
        assert ctx.tokens <= budget and count_tokens(ctx.text) == ctx.tokens
    whole_cost = assemble(hits, 10_000).tokens
    cut = assemble(hits, whole_cost - 3)
    assert cut.passages and cut.passages[0][1] and cut.text.endswith(TRUNCATION_MARK.strip())
    whole = assemble(hits, whole_cost)
    assert whole.passages[0][1] is False and long_body in whole.text
