"""Citations by file and place: the four forms agents paste, the bare file name, and what is not a place."""
from app.agent.doc_citations import find_doc_citations, format_doc_citation, parse_place
from indexing.extract.protocol import Place


def test_the_four_forms_round_trip():
    places = [Place("page", 12), Place("slide", 5), Place("sheet", 0, "Sheet1", 2, 41),
              Place("part", 3)]
    files = ["lmer.pdf", "006law.pptx", "yahoo_data.xlsx", "docs/About_Dataset.docx"]
    text = " ".join(format_doc_citation(f, p) for f, p in zip(files, places))
    assert text == ("[文档: lmer.pdf, page 12] [文档: 006law.pptx, slide 5] "
                    "[文档: yahoo_data.xlsx, sheet Sheet1, rows 2-41] [文档: docs/About_Dataset.docx, part 3]")
    found = find_doc_citations(text)
    assert [(c.file, c.place) for c in found] == list(zip(files, places))


def test_a_bare_file_name_cites_the_whole_document_with_its_quoted_claim():
    (ref,) = find_doc_citations('论文指出“squeezing effect”[文档: pdf.pdf]。')
    assert (ref.file, ref.place, ref.claim, ref.place_text) == ("pdf.pdf", None, "squeezing effect", None)


def test_a_sheet_without_rows_and_loose_spacing_parse():
    assert parse_place("sheet Sheet 2") == Place("sheet", 0, "Sheet 2")
    assert parse_place("p. 7") == Place("page", 7)
    (ref,) = find_doc_citations("[文档：lshort-zh-cn.pdf，page 3]")
    assert (ref.file, ref.place) == ("lshort-zh-cn.pdf", Place("page", 3))


def test_what_is_not_a_place_is_kept_for_the_error_message():
    (ref,) = find_doc_citations("[文档: paper.pdf, chapter two]")
    assert ref.place is None and ref.place_text == "chapter two"


def test_parsing_is_linear_on_hostile_input():
    """100k characters of unclosed prefixes parse without catastrophic backtracking (no timing assertion: the
    call returning is the check; bounded quantifiers make it linear)."""
    assert find_doc_citations("[文档: " * 20_000) == []
