"""The catalogue of corpus files users hand us, good and bad: each reads as documented or names its fault."""
import json

import pytest

from indexing.corpus import CorpusError, iter_documents

DOCS = [{"title": "甲", "page_body": "正文一"}, {"title": "乙", "content": "正文二", "url": "https://x"}]


def read(tmp_path, raw: bytes | str, name="c.json"):
    path = tmp_path / name
    path.write_bytes(raw.encode("utf-8") if isinstance(raw, str) else raw)
    return list(iter_documents(path))


def test_list_wrapped_and_jsonl_shapes_read_the_same(tmp_path):
    as_list = read(tmp_path, json.dumps(DOCS, ensure_ascii=False))
    wrapped = read(tmp_path, json.dumps({"documents": DOCS}, ensure_ascii=False, indent=2))
    jsonl = read(tmp_path, "\n".join(json.dumps(d, ensure_ascii=False) for d in DOCS) + "\n\n")
    assert as_list == wrapped == jsonl
    assert [(d.index, d.title, d.body, d.url) for d in as_list] == [(0, "甲", "正文一", None), (1, "乙", "正文二", "https://x")]


def test_body_is_the_first_non_empty_field_and_other_fields_are_metadata(tmp_path):
    docs = read(tmp_path, json.dumps([{"title": "t", "page_body": "", "content": None, "text": "文本", "lang": "zh"}]))
    assert docs[0].body == "文本" and docs[0].metadata == {"lang": "zh"}


def test_bom_is_accepted(tmp_path):
    assert len(read(tmp_path, b"\xef\xbb\xbf" + json.dumps(DOCS).encode())) == 2
    assert len(read(tmp_path, b"\xef\xbb\xbf" + json.dumps(DOCS[0]).encode() + b"\n", "c.jsonl")) == 1


def test_empty_list_and_all_empty_bodies_are_fine(tmp_path):
    assert read(tmp_path, "[]") == []
    docs = read(tmp_path, json.dumps([{"title": "a", "page_body": ""}, {"title": "b"}]))
    assert [d.body for d in docs] == ["", ""]


def test_titles_lose_control_and_zero_width_characters_and_missing_titles_get_a_name(tmp_path):
    docs = read(tmp_path, json.dumps([{"title": "第一\n行\u200b标题\x07", "page_body": "x"}, {"page_body": "y"}]))
    assert docs[0].title == "第一 行 标题"
    assert docs[1].title == "untitled document 1"


def test_bodies_keep_control_characters_so_offsets_match_the_users_file(tmp_path):
    body = "正文\u200b含\x0b控制字符"
    assert read(tmp_path, json.dumps([{"title": "t", "page_body": body}]))[0].body == body


def test_duplicate_and_very_long_titles_are_kept(tmp_path):
    long_title = "长" * 1500
    docs = read(tmp_path, json.dumps([{"title": long_title, "page_body": "a"}, {"title": long_title, "page_body": "b"}]))
    assert [d.title for d in docs] == [long_title, long_title]


def test_mixed_field_names_in_one_file(tmp_path):
    docs = read(tmp_path, json.dumps([{"title": "a", "page_body": "1"}, {"title": "b", "content": "2"}, {"title": "c", "text": "3"}]))
    assert [d.body for d in docs] == ["1", "2", "3"]


@pytest.mark.parametrize(
    "case, raw, record, field",
    [
        ("not JSON", "this is not json", None, None),
        ("empty file", "", None, None),
        ("top-level scalar", "42", None, None),
        ("truncated JSON", '[{"title": "a", "page_body": "x"}, {"title": "b", "page_', 1, None),
        ("record not an object", '[{"title": "a", "page_body": "x"}, "just a string"]', 1, None),
        ("body of the wrong type", '[{"title": "a", "page_body": ["x"]}]', 0, "page_body"),
        ("title of the wrong type", '[{"title": 5, "page_body": "x"}]', 0, "title"),
        ("url of the wrong type", '[{"title": "a", "page_body": "x", "url": {}}]', 0, "url"),
        ("object without documents", '{\n  "items": []\n}', None, None),
        ("a lone object in a .json file", '{"items": []}', None, None),
    ],
)
def test_bad_json_names_the_record_and_field(tmp_path, case, raw, record, field):
    with pytest.raises(CorpusError) as err:
        read(tmp_path, raw)
    assert err.value.record == record and err.value.field == field
    if record is not None:
        assert f"record {record}" in str(err.value)


def test_invalid_utf8_names_the_record(tmp_path):
    with pytest.raises(CorpusError) as err:
        read(tmp_path, b'[{"title": "a", "page_body": "ok"}, {"title": "b", "page_body": "\xff\xfe"}]')
    assert err.value.record == 1 and "invalid JSON" in str(err.value)


def test_jsonl_with_one_bad_line_names_line_and_record(tmp_path):
    raw = json.dumps(DOCS[0]) + "\n" + '{"title": "b", "page_body": ' + "\n"
    with pytest.raises(CorpusError) as err:
        read(tmp_path, raw)
    assert err.value.record == 1 and "line 2" in str(err.value)


def test_a_10mb_document_and_100k_tiny_documents_stream(tmp_path):
    big = read(tmp_path, json.dumps([{"title": "big", "page_body": "长" * 10_000_000}]), "big.json")
    assert len(big[0].body) == 10_000_000
    tiny = tmp_path / "tiny.json"
    tiny.write_text(json.dumps([{"title": str(i), "page_body": "字"} for i in range(100_000)]))
    assert sum(1 for _ in iter_documents(tiny)) == 100_000


def test_a_lone_object_in_a_json_file_is_refused_with_the_accepted_shapes(tmp_path):
    """A single {"title":..., "page_body":...} was once indexed silently as a one-document corpus."""
    with pytest.raises(CorpusError, match=r"single JSON object, which is not a corpus; expected a JSON list"):
        read(tmp_path, json.dumps(DOCS[0]))
    assert len(read(tmp_path, json.dumps(DOCS[0]) + "\n", "one.jsonl")) == 1


def test_a_document_too_large_to_chunk_is_refused_by_record_and_field(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps([DOCS[0], {"title": "x", "content": "长" * 11}]), encoding="utf-8")
    with pytest.raises(CorpusError, match=r"record 1, field 'content': has 11 characters; documents over 10 are"):
        list(iter_documents(path, max_document_chars=10))
