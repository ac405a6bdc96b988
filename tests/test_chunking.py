from hypothesis import given, settings
from hypothesis import strategies as st

from indexing.chunking import Span, chunk_spans, sentence_spans

ZH = "长江是中国第一长河。全长约6300公里！流域面积约180万平方公里；\n下游江面宽阔？GPT-4 is a model. It has many users."

text_strategy = st.text(alphabet=st.sampled_from(list("长江流域水文特征。！？；\n .!?abcXYZ 123，、")), max_size=600)


@given(text_strategy, st.integers(20, 200), st.integers(0, 19))
@settings(max_examples=300, deadline=None)
def test_every_chunk_is_exactly_its_slice_and_fits(text, size, overlap):
    chunks = chunk_spans(text, size, overlap)
    for span in chunks:
        assert 0 <= span.start < span.end <= len(text)
        assert span.end - span.start <= size
        piece = text[span.start : span.end]
        assert piece == piece.strip()  # no leading/trailing whitespace
    starts = [c.start for c in chunks]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)  # always progresses
    covered = set()
    for span in chunks:
        covered.update(range(span.start, span.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())  # nothing is lost
    assert chunk_spans(text, size, overlap) == chunks  # deterministic


def test_chunks_end_on_sentence_boundaries():
    chunks = chunk_spans(ZH, 30, 0)
    for span in chunks[:-1]:
        assert ZH[span.end - 1] in "。！？；.!?"


def test_overlap_repeats_whole_sentences():
    chunks = chunk_spans(ZH, 40, 20)
    assert len(chunks) >= 2
    for a, b in zip(chunks, chunks[1:]):
        if b.start < a.end:  # overlapping: the shared part starts at a sentence start
            assert ZH[b.start - 1] in "。！？；\n .!?"


def test_sentences_cover_the_text():
    spans = sentence_spans(ZH)
    assert "".join(ZH[s.start : s.end] for s in spans) == ZH
    assert ZH[spans[0].start : spans[0].end] == "长江是中国第一长河。"


def test_a_sentence_longer_than_the_size_is_cut_hard():
    text = "无标点" * 100
    chunks = chunk_spans(text, 50, 10)
    assert [c.end - c.start for c in chunks[:-1]] == [50] * (len(chunks) - 1)


def test_empty_and_blank_text_give_no_chunks():
    assert chunk_spans("", 100, 10) == []
    assert chunk_spans(" \n\t ", 100, 10) == []


def test_a_blank_first_line_does_not_give_two_chunks_at_one_start():
    """Found by hypothesis: the blank piece trimmed away, the overlap restarted at the same sentence."""
    text = "\n111111111111!1111111"
    assert chunk_spans(text, 20, 13) == [Span(1, 21)]


sentence_text = st.text(alphabet=st.sampled_from(list("长江流域。！？；”」）\n .!?\"'abcX1，")), max_size=300)


@given(sentence_text)
@settings(max_examples=400, deadline=None)
def test_sentences_are_exact_consecutive_slices_owning_every_character_once(text):
    """Evidence and citation support quote sentences by offset: a gap or overlap would misquote the document."""
    spans = sentence_spans(text)
    owner = [0] * len(text)
    for span in spans:
        assert 0 <= span.start < span.end <= len(text)
        for i in range(span.start, span.end):
            owner[i] += 1
    assert owner == [1] * len(text)
    assert [s.start for s in spans] == ([0] + [s.end for s in spans[:-1]] if spans else [])
    assert "".join(text[s.start:s.end] for s in spans) == text


@given(sentence_text)
@settings(max_examples=300, deadline=None)
def test_only_the_last_sentence_may_end_without_a_terminator(text):
    for span in sentence_spans(text)[:-1]:
        piece = text[span.start:span.end].rstrip("”」）)\"'")
        assert piece[-1] in "。！？；!?;…\n." or piece.endswith("\n"), piece


def test_chinese_and_english_sentence_ends_keep_their_closing_quotes():
    text = "他说：“走吧。”她答：“好！”然后呢？\nHe said \"Go.\" Then 3.14 is pi. Done"
    pieces = [text[s.start:s.end] for s in sentence_spans(text)]
    assert pieces == ["他说：“走吧。”", "她答：“好！”", "然后呢？\n", "He said \"Go.\"", " Then 3.14 is pi.", " Done"]
