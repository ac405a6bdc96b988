from app.citations import claim_match, find_citations, format_citation


def test_format_uses_the_first_50_title_characters():
    title = "关于推进城市公共交通优先发展的若干意见与实施细则及配套措施和地方实施方案的通知（二〇二五年修订版，全文）第一部分"
    assert format_citation(title, 3) == f'[long_context: "{title[:50]}", chunk 3]'


def test_find_citations_with_preceding_claims():
    text = ('报告称“三峡工程位于湖北省宜昌市” [long_context: "长江三峡工程概况", chunk 0]。'
            '另见[long_context: "黄河的泥沙问题", chunk 12]')
    refs = find_citations(text)
    assert [(r.title, r.chunk_index) for r in refs] == [("长江三峡工程概况", 0), ("黄河的泥沙问题", 12)]
    assert refs[0].claim == "三峡工程位于湖北省宜昌市"
    assert refs[1].claim is None


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
    assert [r.claim for r in refs] == ["乙方案", "丙"]


def test_adversarial_prefixes_parse_in_linear_time():
    """100k characters of unclosed citation openers once took 6.4 s of regex, freezing the whole process."""
    import time

    for text in ['[long_context: "' * 6250, "“" * 50_000 + '" [long_context: "t", chunk 0]' * 1500,
                 ('"' + "x" * 60) * 1600 + '[long_context: "t", chunk 0]' * 100]:
        t0 = time.process_time()
        find_citations(text)
        assert time.process_time() - t0 < 0.5
