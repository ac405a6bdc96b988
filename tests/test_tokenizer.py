from indexing.tokenizer import script_of, tokenize


def test_mixed_chinese_and_latin_terms_survive():
    terms = tokenize("我们用GPT-4和KV缓存做检索，效果很好。Hello World! 2023年")
    assert "gpt-4" in terms and "gpt" in terms and "4" in terms
    assert "kv" in terms and "缓存" in terms and "检索" in terms
    assert "hello" in terms and "world" in terms  # lower-cased
    assert "2023" in terms


def test_punctuation_and_whitespace_are_not_terms():
    terms = tokenize("  ，。！？ ... --- \n\t“”《》")
    assert terms == []


def test_full_width_latin_is_normalised():
    assert "gpt" in tokenize("ＧＰＴ模型")


def test_stop_words_are_dropped_unless_asked():
    assert "的" not in tokenize("我的书")
    assert "的" in tokenize("我的书", drop_stop_words=False)


def test_query_and_document_tokenise_the_same_way():
    assert tokenize("分页注意力") == tokenize("分页注意力")
    assert set(tokenize("分页注意力")) <= set(tokenize("分页注意力把缓存切成固定大小的块"))


def test_script_of_tells_chinese_from_latin_text():
    assert script_of("长江有多长？") == "cjk"
    assert script_of("How long is the Yangtze?") == "latin"
    assert script_of("GPT-4 的推理能力如何") == "cjk"
    assert script_of("2023 — 42") == "latin"  # no letters at all
