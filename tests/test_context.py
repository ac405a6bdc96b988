from app.agent.context import TRUNCATION_MARK, assemble, merge_passages
from app.engines.protocol import ChunkRecord as Chunk
from app.ranking.search import Hit
from app.agent.tokens import count_tokens

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
    assert cut.parts and cut.parts[0].cut and cut.text.endswith(TRUNCATION_MARK.strip())
    whole = assemble(hits, whole_cost)
    assert whole.parts[0].cut is False and long_body in whole.text


# --- evidence-first context -------------------------------------------------------------------------------

from app.ranking.confidence import Concept  # noqa: E402
from app.agent.context import GAP, assemble_evidence  # noqa: E402

LONG = ("马赛是法国歌手。他的母亲是意大利人。他曾在巴黎学习音乐。他出过三张专辑。他喜欢旅行和摄影。"
        "2015年马赛出席了林俊杰的新碟发布会。那次发布会在上海举行。他后来又去了北京。他的歌迷很多。")
OTHER = "上海是一座大城市。发布会常在上海举行。北京也是大城市。"


def doc_hit(doc, idx, body, start, end, score, title):
    return Hit(Chunk(doc * 100 + idx, doc, idx, title, body[start:end], None, start, end), score, 1.0, 0.5)


def ask(*terms):
    return [Concept(((t,),), 1.0) for t in terms]


def nothing_more():
    return []


def evidence_hits():
    return [doc_hit(0, 0, LONG, 0, len(LONG), 0.9, "马赛"), doc_hit(1, 0, OTHER, 0, len(OTHER), 0.5, "上海")]


def test_a_small_budget_holds_the_answer_sentence_from_the_middle_of_the_passage_uncut():
    """The old context cut the merged passage from its start and lost the answer (issue 21's example)."""
    matcher = ask("2015", "马赛", "出席", "发布会")
    ctx = assemble_evidence(evidence_hits(), nothing_more, matcher, 40)
    assert "2015年马赛出席了林俊杰的新碟发布会。" in ctx.text and ctx.tokens <= 40
    assert ctx.text.startswith('[long_context: "马赛", chunk 0]\n' + GAP)
    assert "[truncated]" not in ctx.text
    cut = assemble(evidence_hits(), 40)
    assert "林俊杰" not in cut.text  # what passages mode gives at that budget


def test_every_budget_is_kept_and_only_whole_sentences_are_shown():
    """Bodies without commas: nothing smaller than a sentence can be shown (clauses: the test below)."""
    matcher = ask("2015", "马赛", "发布会", "上海")
    sentences = {s for body in (LONG, OTHER) for s in body.replace("。", "。|").split("|") if s}
    for budget in range(10, 140, 7):
        ctx = assemble_evidence(evidence_hits(), nothing_more, matcher, budget)
        assert ctx.tokens == count_tokens(ctx.text) <= budget
        for part in ctx.parts:
            for start, end in part.spans:
                body = LONG if part.doc_index == 0 else OTHER
                shown = body[start:end]
                assert shown in ctx.text  # the spans are exact
                assert all(s in sentences for s in shown.replace("。", "。|").split("|") if s)


def test_at_a_large_budget_the_output_is_the_passages():
    whole = assemble(evidence_hits(), 10_000)
    assert assemble_evidence(evidence_hits(), nothing_more, ask("上海"), 10_000).text == whole.text


def test_left_over_budget_grows_the_windows_back_into_the_passage():
    matcher = ask("2015", "马赛", "发布会")
    sizes = [len(assemble_evidence(evidence_hits(), nothing_more, matcher, b).text) for b in (40, 80, 120, 160)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_a_document_gives_its_answering_chunk_even_when_diversity_left_it_out():
    """Issue 21 point 7: the answer sat in a chunk the diverse top-k dropped for max_per_doc."""
    split = LONG.index("2015")
    hits = [doc_hit(0, 0, LONG, 0, split, 0.9, "马赛"), doc_hit(1, 0, OTHER, 0, len(OTHER), 0.5, "上海")]
    more = [doc_hit(0, 1, LONG, split, len(LONG), 0.4, "马赛")]
    ctx = assemble_evidence(hits, lambda: more, ask("2015", "林俊杰", "发布会"), 60)
    assert "2015年马赛出席了林俊杰的新碟发布会。" in ctx.text and '"马赛", chunk 1]' in ctx.text
    assert "林俊杰" not in assemble(hits, 60).text


def test_further_chunks_are_fetched_only_when_the_passages_do_not_all_fit():
    """Fetching them costs an engine call: a budget that holds every passage whole never pays it."""
    calls = []

    def more():
        calls.append(1)
        return []

    assemble_evidence(evidence_hits(), more, ask("上海"), 10_000)
    assert calls == []
    assemble_evidence(evidence_hits(), more, ask("上海"), 30)
    assert calls == [1]


def test_a_sentence_is_read_under_its_title_so_the_name_does_not_outrank_the_answer():
    """The question's subject is the document's title: the sentences repeating the name are not better evidence
    than the one answering (CMRC: "长谷川町子从师于哪位漫画家？" lost "…从师于漫画家田河水泡。" to them at 400 tokens)."""
    concepts = [Concept((("马赛",),), 2.0), Concept((("专辑",),), 1.0)]  # the name is the rarer term
    ctx = assemble_evidence(evidence_hits(), nothing_more, concepts, 30)
    assert "他出过三张专辑。" in ctx.text
    assert "马赛是法国歌手。" not in ctx.text  # names the subject, answers nothing


CLAUSED = ("蒋家旻是香港女演员。她曾五度饰演女主角之少女时期。在2013年9月上映的电影《第一次不是你》中，蒋家旻首度担当女主角，"
           "更凭此角色获提名第33届香港电影金像奖「最佳新演员」奖项，并获得多家媒体的好评。她后来转投电视。")


def test_a_sentence_longer_than_the_budget_shows_its_answering_clauses_between_gap_marks():
    """Skipping it lost the answer; its clauses are exact spans of the body, never a cut at a character count."""
    hits = [doc_hit(0, 0, CLAUSED, 0, len(CLAUSED), 0.9, "蒋家旻")]
    ctx = assemble_evidence(hits, nothing_more, ask("电影", "首度", "女主角"), 50)
    assert "《第一次不是你》中，" in ctx.text and ctx.tokens <= 50
    (part,) = ctx.parts
    (start, end), = part.spans
    assert GAP + CLAUSED[start:end] + GAP in ctx.text and part.cut
    assert CLAUSED[start:end].startswith("在2013年9月") and not CLAUSED[start:end].endswith("。")
    whole = assemble_evidence(hits, nothing_more, ask("电影", "首度", "女主角"), 120)
    assert "在2013年9月上映的电影《第一次不是你》中，蒋家旻首度担当女主角，更凭此角色" in whole.text
