"""The weak-match confidence (app/ranking/confidence.py): the same meaning for Chinese and English questions, small and
large corpora, a topic with one document or many. Measured behind these examples: docs/quality.md."""
import numpy as np
import pytest

from app.ranking.confidence import Concept, assess, concepts_of, coverage, dense_evidence, held_in_translation
from app.ranking.fusion import FusionParams
from app.backend.loaded import LoadedCorpus
from app.ranking.search import SearchParams, search
from indexing import layout


@pytest.fixture(scope="module")
def small(index_dir):
    return LoadedCorpus.open(layout.published_version(index_dir, "small"))  # 10 paragraphs, hybrid


@pytest.fixture(scope="module")
def bm25_only(index_dir):
    return LoadedCorpus.open(layout.published_version(index_dir, "sample"))  # 30 paragraphs, no vectors


def confidence_of(corpus, query, mode="hybrid"):
    return search(corpus, SearchParams(query, mode), FusionParams(), 100).confidence


def test_a_topic_with_many_related_documents_is_not_read_as_a_weak_match():
    """The best chunk is judged against the corpus at large, not its neighbours: whether 200 chunks of a
    painter's other articles sit just below it or none do, the evidence is the same, and strong."""
    rng = np.random.default_rng(0)
    background = rng.normal(0.0, 0.05, 1024)  # what unrelated chunks score for the question
    top = 0.32
    near_top_of_a_cluster = np.r_[top, rng.uniform(0.28, 0.31, 200)]  # no longer an input: nothing to punish
    assert near_top_of_a_cluster.max() == top
    evidence = dense_evidence(top, background, population=10_000)
    assert evidence > 2.0
    # with a third of the question's concepts in the top chunk (a translated question's usual share), confident
    concepts = [Concept((("齐白石",),), 1.0), Concept((("秋荷",),), 1.0), Concept((("册页",),), 1.0)]
    assert assess(concepts, 0.0, ["齐白石的画"], evidence).value > 0.5


def test_the_best_of_many_unrelated_chunks_is_chance_whatever_the_corpus_size():
    """The best of 57 or of 10,000 unrelated chunks is what chance gives; neither passes for a match."""
    rng = np.random.default_rng(1)
    for n in (57, 10_000):
        scores = rng.normal(0.0, 0.05, n)
        sample = scores[np.linspace(0, n - 1, min(n, 1024)).astype(int)]
        assert abs(dense_evidence(float(scores.max()), sample, n)) < 1.0


def test_a_translated_phrase_is_present_when_any_of_its_translations_is():
    """An English phrase translated to 印章 or 篆刻 is found in a text holding either one."""
    concepts, lacking = concepts_of(["印章", "篆刻", "齐白石"], {"印章": 5.0, "篆刻": 4.0, "齐白石": 2.0}, 9.0,
                                    groups=[(("印章",), ("篆刻",)), (("齐白石",),)])
    assert lacking == 0 and coverage(concepts, lacking, "齐白石的篆刻艺术") == 1.0
    assert coverage(concepts, lacking, "齐白石画虾") == pytest.approx(2.0 / 6.0)


def test_words_the_corpus_lacks_count_as_absent_concepts():
    """"What do koalas eat?" over a corpus without koalas: the eating is there, the koala is not."""
    concepts, lacking = concepts_of(["食用"], {"食用": 3.0}, 9.0, groups=[(("食用",),)], unmatched=1)
    assert coverage(concepts, lacking, "果实可以食用") == pytest.approx(3.0 / 12.0)
    chinese, unknown = concepts_of(["考拉", "吃"], {"吃": 3.0}, 9.0)  # 考拉: a term the corpus never saw
    assert [c.choices for c in chinese] == [(("吃",),)] and unknown == 9.0


# 混合专家模型的路由 with its English words (app/ranking/search._concepts): the Chinese term first, then its English choices;
# 路由 has none the corpus uses. 模型 is in most of the corpus's articles, so it weighs little.
MIXTURE = [Concept((("混合",), ("mixture",)), 4.6), Concept((("专家",), ("experts",), ("expert",)), 3.9),
           Concept((("模型",), ("models",), ("model",)), 0.5), Concept((("路由",),), 5.9)]


def test_held_in_translation_is_what_a_passage_says_in_the_other_script():
    """An English passage on the question holds its concepts in English; a stray page with the generic "model"
    holds little; a Chinese article that writes "model" beside 模型 adds nothing in English."""
    paper = "A mixture of experts routes each token to two experts, so large models stay cheap to serve."
    assert held_in_translation(MIXTURE, 0.0, paper) == pytest.approx(9.0 / 14.9)
    assert held_in_translation(MIXTURE, 0.0, "Model cards document how a model was trained.") == pytest.approx(
        0.5 / 14.9)
    assert held_in_translation(MIXTURE, 0.0, "混合专家模型(model)把每个词元路由给两个专家") == 0.0
    assert coverage(MIXTURE, 0.0, "混合专家模型(model)把每个词元路由给两个专家") == 1.0  # held, but in Chinese


def test_question_words_name_nothing():
    """什么 and 哪一年 are dropped like the English what and which: an answer seldom repeats them."""
    concepts, lacking = concepts_of(["猴面包树", "别名", "什么", "哪一年"], {"猴面包树": 6.0, "别名": 4.0, "什么": 5.0,
                                                                 "哪一年": 7.0}, 9.0)
    assert [c.choices[0][0] for c in concepts] == ["猴面包树", "别名"] and lacking == 0
    assert coverage([Concept((("别名",),), 1.0)], 0.0, "") == 0.0


def test_an_off_topic_question_on_a_small_corpus_is_flagged(small):
    """Ten paragraphs: the best of a few chunks is no match by itself, in either language."""
    for query in ("如何做红烧肉？", "银杏树一般能活多少年？", "How do I bake sourdough bread at home?"):
        assert confidence_of(small, query).value < 0.5, query


def test_a_translated_english_question_with_its_words_in_the_top_chunk_is_not_flagged(small):
    """Translated for BM25 (公司, 开发, 泡泡, 战士), the question's concepts are in the top chunk."""
    outcome = search(small, SearchParams("Which company developed Bubble Fighter?"), FusionParams(), 100)
    assert outcome.translation is not None and outcome.hits[0].chunk.title == "泡泡战士"
    assert outcome.confidence.lexical >= 0.5 and outcome.confidence.value >= 0.5


def test_the_same_question_in_chinese_and_english_agrees(small):
    assert confidence_of(small, "泡泡战士是哪个公司开发的？").value >= 0.5
    assert confidence_of(small, "Which company developed Bubble Fighter?").value >= 0.5


def test_without_vectors_the_lexical_part_decides(bm25_only):
    answered = confidence_of(bm25_only, "泡泡战士是哪个公司开发的？", "bm25")
    assert answered.dense is None and answered.value >= 0.5
    assert confidence_of(bm25_only, "How do I bake sourdough bread at home?", "bm25").value < 0.5


def test_no_results_is_no_confidence():
    assert assess([Concept((("泡泡",),), 1.0)], 0.0, [], 3.0).value == 0.0
