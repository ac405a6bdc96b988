"""Claim support scoring (app/agent/support.py) on hand-made concepts: what each label means."""
from app.ranking.confidence import Concept
from app.agent.support import PARTIAL, SUPPORTED, assess_support, label_of

CHUNK = "三峡工程位于湖北省宜昌市。它是世界上装机容量最大的水电站。工程于1994年正式动工兴建，2006年大坝全线建成。"


def concepts(*terms: str, weight: float = 1.0) -> list[Concept]:
    return [Concept(((t,),), weight) for t in terms]


def test_a_claim_whose_concepts_one_sentence_holds_is_supported_and_that_sentence_is_shown():
    support = assess_support(concepts("水电站", "装机容量", "最大", "世界"), 0.0, CHUNK)
    assert support.label == "supported" and support.score == 1.0
    assert CHUNK[support.sentence.start:support.sentence.end] == "它是世界上装机容量最大的水电站。"


def test_a_claim_joining_two_sentences_is_supported_by_the_pair():
    """A report often merges two neighbouring sentences into one claim."""
    support = assess_support(concepts("宜昌市", "水电站", "最大"), 0.0, CHUNK)
    assert support.label == "supported"


def test_a_claim_of_another_topic_is_unsupported():
    support = assess_support(concepts("激活函数", "梯度", "神经网络"), 0.0, CHUNK)
    assert support.label == "unsupported" and support.score == 0.0


def test_concepts_the_corpus_lacks_count_against_the_claim():
    """Half the claim's weight is in words the corpus never uses: at most partial."""
    support = assess_support(concepts("水电站", "最大"), 2.0, CHUNK)
    assert support.score == 0.5 and support.label == "partial"


def test_the_title_counts_in_every_sentence():
    assert assess_support(concepts("三峡", "1994"), 0.0, "工程于1994年正式动工。", title="三峡").label == "supported"


def test_labels_follow_the_thresholds():
    assert [label_of(s) for s in (SUPPORTED, PARTIAL, PARTIAL - 0.01)] == ["supported", "partial", "unsupported"]


def test_an_empty_chunk_supports_nothing():
    assert assess_support(concepts("水电站"), 0.0, "  \n ").label == "unsupported"
