"""Sentence evidence: concept coverage by sentence and the highlights every search hit carries."""
from app.ranking.confidence import Concept
from app.agent.evidence import Matcher, Sentence, best_window, clauses_of, highlights, sentences_of


def concepts(*terms, weight=1.0):
    return [Concept(((t,),), weight) for t in terms]


BODY = "前言不谈。马赛出席了林俊杰的新碟发布会。  那是2015年的事！\n其他内容。"


def test_sentences_are_trimmed_slices_of_the_document_by_offset():
    offset = 100
    for s in sentences_of(BODY, offset):
        assert BODY[s.start - offset:s.end - offset] == s.text == s.text.strip()
    assert [s.text for s in sentences_of(BODY, 0)][1:3] == ["马赛出席了林俊杰的新碟发布会。", "那是2015年的事！"]


def test_coverage_finds_chinese_terms_whatever_the_segmentation_and_latin_terms_at_word_starts():
    m = Matcher(concepts("马赛", "发布会", "model"))
    assert m.coverage("马赛出席了发布会") == 2 / 3
    assert m.coverage("Models of 马赛") == 2 / 3  # plural, any case
    assert m.coverage("a remodel") == 0.0  # not inside another word


def test_a_translated_concept_is_held_by_any_of_its_choices():
    hallucination = Concept((("幻觉",), ("胡编", "乱造")), 2.0)
    m = Matcher([hallucination, *concepts("openai")])
    assert m.coverage("模型会胡编乱造") == 2 / 3
    assert m.coverage("OpenAI 说幻觉") == 1.0


def test_highlights_are_the_best_sentences_best_first_in_document_offsets():
    m = Matcher(concepts("马赛", "2015", "发布会"))
    found = highlights(m, BODY, 40)
    assert [s.text for s in found] == ["马赛出席了林俊杰的新碟发布会。", "那是2015年的事！"]
    assert all(BODY[s.start - 40:s.end - 40] == s.text for s in found)


def test_no_highlight_when_no_sentence_holds_a_query_term():
    assert highlights(Matcher(concepts("长江")), BODY, 0) == []
    assert highlights(Matcher([]), BODY, 0) == []


LIST = "该人物首先出现于2006年，是第三代蓝甲虫，由作家基斯·吉芬和约翰·罗杰斯创作，屈伊·哈姆纳作画。"


def test_clauses_cover_a_sentence_exactly_at_commas_and_colons_not_inside_numbers():
    offset = 500
    parts = clauses_of(Sentence(offset, offset + len(LIST), LIST))
    assert "".join(c.text for c in parts) == LIST
    assert [c.start - offset for c in parts] == [0, LIST.index("是第三代"), LIST.index("由作家"), LIST.index("屈伊")]
    assert all(LIST[c.start - offset:c.end - offset] == c.text for c in parts)
    seats = "The stand holds 6,476 people, opened at 10:30: a record."
    assert [c.text for c in clauses_of(Sentence(0, len(seats), seats))] == [
        "The stand holds 6,476 people,", " opened at 10:30:", " a record."]


def test_a_sentence_too_long_to_show_gives_its_answering_clause_grown_while_it_fits():
    """CMRC answers sit in one clause of sentences longer than a 100-token budget: the clause, not nothing."""
    sentence = Sentence(0, len(LIST), LIST)
    m = Matcher(concepts("创作", "作家"))
    alone = best_window(m, "海梅·雷耶斯", sentence, lambda w: len(w.text) <= 22)
    assert alone.text == "由作家基斯·吉芬和约翰·罗杰斯创作，"
    grown = best_window(m, "海梅·雷耶斯", sentence, lambda w: len(w.text) <= 32)
    assert grown.text == "由作家基斯·吉芬和约翰·罗杰斯创作，屈伊·哈姆纳作画。"  # the next clause first
    assert best_window(m, "", sentence, lambda w: len(w.text) <= 5) is None
    short = "没有逗号的句子。"
    assert best_window(m, "", Sentence(0, len(short), short), lambda w: True) is None
