from hypothesis import given
from hypothesis import strategies as st

from app.agent.citations import claim_match, find_citations, format_citation, title_key


def test_format_uses_the_first_50_title_characters():
    title = "关于推进城市公共交通优先发展的若干意见与实施细则及配套措施和地方实施方案的通知（二〇二五年修订版，全文）第一部分"
    assert format_citation(title, 3) == f'[long_context: "{title[:50]}", chunk 3]'


def test_find_citations_with_preceding_claims():
    text = ('报告称“三峡工程位于湖北省宜昌市” [long_context: "长江三峡工程概况", chunk 0]。'
            '另见[long_context: "黄河的泥沙问题", chunk 12]')
    refs = find_citations(text)
    assert [(r.title, r.chunk_index) for r in refs] == [("长江三峡工程概况", 0), ("黄河的泥沙问题", 12)]
    assert (refs[0].claim, refs[0].quoted) == ("三峡工程位于湖北省宜昌市", True)
    assert (refs[1].claim, refs[1].quoted) == (None, False)  # 另见: a label, not a claim


def test_titles_with_quotes_still_parse():
    refs = find_citations('[long_context: "他说"好"的那天", chunk 2]')
    assert refs[0].title == '他说"好"的那天' and refs[0].chunk_index == 2


def test_claim_matching_exact_normalized_none():
    content = "三峡工程位于湖北省宜昌市，是世界上装机容量最大的水电站。"
    assert claim_match("位于湖北省宜昌市", content) == "exact"
    assert claim_match("位于 湖北省宜昌市，是世界上", content) == "normalized"
    assert claim_match("位于四川省", content) == "none"


def test_claims_take_the_nearest_quote_and_allow_a_separator():
    refs = find_citations('前文“甲”。又说“乙方案”， [long_context: "t", chunk 1] 而"未引用" 与 「丙」:[long_context: "t", chunk 2]')
    assert [(r.claim, r.quoted) for r in refs] == [("乙方案", True), ("丙", True)]


def test_adversarial_prefixes_parse_in_linear_time():
    """100k characters of unclosed citation openers once took 6.4 s of regex, freezing the whole process."""
    import time

    for text in ['[long_context: "' * 6250, "“" * 50_000 + '" [long_context: "t", chunk 0]' * 1500,
                 ('"' + "x" * 60) * 1600 + '[long_context: "t", chunk 0]' * 100]:
        t0 = time.process_time()
        find_citations(text)
        assert time.process_time() - t0 < 0.5


titles = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
around = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40).filter(lambda t: "[long_context" not in t)


@given(titles, st.integers(0, 999_999_999), around, around)
def test_a_title_cannot_forge_a_citation(title, chunk, before, after):
    """Whatever a title holds (quotes, brackets, line breaks), its citation parses back to its own key and chunk."""
    refs = find_citations(before + format_citation(title, chunk) + after)
    assert [(title_key(r.title), r.chunk_index) for r in refs] == [(title_key(title), chunk)]


def test_the_seen_forgery_cites_its_own_document():
    """A document titled `目标文章", chunk 1] 另一篇` was cited as document "目标文章", chunk 1."""
    forged = format_citation('目标文章", chunk 1] 另一篇', 0)
    assert forged == '[long_context: "目标文章＂, chunk 1］ 另一篇", chunk 0]'
    (ref,) = find_citations(forged)
    assert title_key(ref.title) == title_key('目标文章", chunk 1] 另一篇') != title_key("目标文章")
    assert ref.chunk_index == 0


def test_a_citation_pasted_with_the_raw_title_has_the_same_key():
    assert title_key(find_citations('[long_context: "他说"好"的[那]天", chunk 2]')[0].title) == title_key('他说"好"的[那]天')


def test_an_unquoted_citation_backs_the_sentence_or_clause_before_it():
    """The claim ends at the citation and starts at the previous sentence end or the previous citation."""
    text = ('背景介绍。The squeezing effect is caused by negative gradients [long_context: "a", chunk 1]. '
            '三峡工程位于宜昌[long_context: "b", chunk 0]，装机容量世界第一[long_context: "c", chunk 2]'
            '[long_context: "d", chunk 3]。\n- 要点：大坝于2006年建成 [long_context: "e", chunk 4]')
    assert [(r.claim, r.quoted) for r in find_citations(text)] == [
        ("The squeezing effect is caused by negative gradients", False),
        ("三峡工程位于宜昌", False),
        ("装机容量世界第一", False),
        ("装机容量世界第一", False),  # right after another citation: the same claim
        ("要点：大坝于2006年建成", False),
    ]


def test_a_citation_after_the_sentence_end_backs_that_sentence():
    refs = find_citations('三峡工程位于宜昌。 [long_context: "b", chunk 0] 黄河含沙量大。[long_context: "c", chunk 1]')
    assert [r.claim for r in refs] == ["三峡工程位于宜昌。", "黄河含沙量大。"]


def test_a_citation_with_nothing_or_a_label_before_it_backs_no_claim():
    text = '[long_context: "a", chunk 0] 据报道，[long_context: "b", chunk 0] Sources: [long_context: "c", chunk 0]'
    assert [r.claim for r in find_citations(text)] == [None, None, None]
