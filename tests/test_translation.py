"""Dictionary translation of English questions for BM25 over a Chinese corpus (app/ranking/translation.py)."""
from __future__ import annotations

import ast

import numpy as np
import pytest

from app.ranking import cedict
from app.backend.local import LocalBackend
from app.engines.local_terms import BM25TermStats
from app.engines.protocol import CoOccurrenceStats, EngineQuery, TermStats
from app.ranking.fusion import FusionParams
from app.backend.loaded import LoadedCorpus
from app.schemas import SearchRequest
from app.ranking.search import SearchParams, search
from app.settings import Settings
from app.ranking.translation import english_terms, needs_translation, translate
from indexing import layout
from indexing.build import build_index
from indexing.tokenizer import tokenize
from tests.conftest import FIXTURES, options, write_corpus


class Corpus:
    """TermStats of a few chunk texts, counted the obvious way."""

    def __init__(self, chunks: list[str]):
        self.chunks = [set(tokenize(c)) for c in chunks]
        self.n_chunks = len(chunks)

    def doc_freq(self, terms):
        return {t: sum(t in c for c in self.chunks) for t in terms}

    def _has(self, chunk, group):
        return all(t in chunk for t in ([group] if isinstance(group, str) else group))

    def co_occurrence(self, groups):
        return np.array([[sum(self._has(c, a) and self._has(c, b) for c in self.chunks) for b in groups]
                         for a in groups])


class NoCoOccurrence:
    """The same statistics without the optional co-occurrence counts."""

    def __init__(self, corpus: Corpus):
        self.n_chunks, self.doc_freq = corpus.n_chunks, corpus.doc_freq


SEALS = Corpus(
    ["书法作品的落款处常盖一方印章", "印章与书法同为中国传统艺术", "篆刻印章是书法家的必修课"]
    + ["海豹在海边晒太阳", "北极的海豹以鱼为食", "海豹是一种海洋哺乳动物", "动物园新来了两只海豹"]
)


def test_only_terms_the_corpus_uses_are_searched():
    """A dictionary candidate the corpus never uses (document frequency 0) cannot match anything: dropped."""
    corpus = Corpus(["齐白石常画桃子，寓意长寿", "齐白石的桃子画作多为祝寿而作", "今天的天气很好"])
    tr = translate("Why did Qi Baishi so often paint longevity peaches?", corpus)
    assert {"齐白石", "桃子", "长寿"} <= set(tr.chinese)
    assert all(corpus.doc_freq([t])[t] > 0 for t in tr.terms)  # not 寿桃, 蟠桃, 桃... (CC-CEDICT offers them)
    assert "桃子" in dict(tr.pairs)["peaches"]


def test_co_occurrence_picks_the_sense_that_fits_the_question():
    """'seal' is both 印章 (a stamp) and 海豹 (the animal); next to 'calligraphy' only the stamp co-occurs.
    Without co-occurrence counts both senses are equally good and both are searched."""
    question = "What do seals mean in calligraphy?"
    tr = translate(question, SEALS)
    assert "印章" in tr.chinese and "海豹" not in tr.chinese
    assert "书法" in tr.chinese
    blind = translate(question, NoCoOccurrence(SEALS))
    assert {"印章", "海豹"} <= set(blind.chinese)


def test_the_longest_dictionary_phrase_wins():
    """'State Council' is one gloss (国务院); its words alone would give 国家/状态 and 理事会."""
    corpus = Corpus(["国务院印发了新的规划", "这个国家的理事会开会", "系统的状态良好", "国务院常务会议召开"])
    tr = translate("What did the State Council publish?", corpus)
    assert dict(tr.pairs)["State Council"] == ("国务院",)
    assert not {"国家", "状态", "理事会"} & set(tr.chinese)


def test_a_question_in_the_corpus_script_is_not_translated():
    """Translation is for a question in another script than the corpus; Chinese over Chinese stays as is."""
    assert not needs_translation("齐白石为什么常画桃子？", "cjk")
    assert needs_translation("Why did Qi Baishi paint peaches?", "cjk")
    assert not needs_translation("Why did Qi Baishi paint peaches?", "latin")
    assert not needs_translation("Why did Qi Baishi paint peaches?", None)  # unknown corpus script: leave it
    # a Chinese question quoting an English title is Latin by letter count, but its Latin words are names
    assert not needs_translation("《This Is Where I Came In》是Bee Gees的第几张原创专辑？", "cjk")


def test_names_acronyms_and_numbers_the_corpus_knows_are_kept():
    """Chinese text writes BERT, GPT-4 and years in Latin letters: they are searched as written, and an acronym
    is never looked up in the dictionary. A Latin word the corpus never uses is not kept."""
    corpus = Corpus(["BERT 是一种双向预训练模型", "GPT-4 于2023年发布，是多模态大模型", "模型的训练需要大量数据"])
    tr = translate("How does BERT compare with GPT-4 and Zhangsanfeng in 2023 on training?", corpus)
    assert {"bert", "gpt", "4", "gpt-4", "2023"} <= set(tr.kept)
    assert "训练" in tr.chinese
    assert not {"how", "does", "compare", "zhangsanfeng"} & set(tr.kept)
    assert "BERT" not in dict(tr.pairs)


def test_a_pasted_paragraph_costs_a_bounded_amount(mixed_bm25):
    """A 2,000-character question: the words translated (and so the candidates compared) are capped."""
    from app.ranking.translation import MAX_WORDS

    question = ("Which reports discuss silt in the Yellow River, the Three Gorges dam on the Yangtze, "
                "key-value caches for large language models and public transport in cities? ") * 14
    tr = translate(question[:2000], mixed_bm25.engine.term_stats)
    assert len(tr.pairs) <= MAX_WORDS
    assert {"黄河", "泥沙"} <= set(tr.chinese)


def test_terms_are_index_terms():
    """Chosen words are segmented with the index's tokenizer, so every searched term can match an index term."""
    tr = translate("What do seals mean in calligraphy?", SEALS)
    for term in tr.terms:
        assert term == tokenize(term)[0]


def test_a_gloss_that_says_the_questions_word_comes_before_one_that_shares_its_stem():
    """Snowball stems "effective" and "effect" alike, and "homing" and "home": among senses the dictionary ranks
    the same, the one whose gloss is the question's word is chosen first (the squeezing-effect paper got 有效)."""
    corpus = Corpus(["这种方法很有效", "有效的训练方法", "梯度下降是有效的优化方法", "挤压效应导致概率集中",
                     "导弹的寻的系统", "寻的制导的原理", "红外寻的", "他在家里看书"])
    assert dict(translate("effect", corpus).pairs)["effect"][0] == "效应"
    assert dict(translate("effective", corpus).pairs)["effective"][0] == "有效"
    assert dict(translate("home", corpus).pairs)["home"][0] == "家里"
    assert dict(translate("homing", corpus).pairs)["homing"][0] == "寻的"


def test_the_sense_a_corpus_uses_most_is_not_held_against_it():
    """Over an AI corpus "model" is 模型, in most of its chunks; a penalty on common senses chose 造型 (styling)."""
    corpus = Corpus(["大模型的训练需要大量数据", "模型参数规模越来越大", "如何评估一个模型", "模型部署到手机上",
                     "汽车造型设计", "这款车的造型很独特", "模型推理优化", "语言模型与视觉模型", "训练模型的技巧",
                     "模型的典型应用"])
    assert dict(translate("model", corpus).pairs)["model"][0] == "模型"


def test_co_occurrence_keeps_a_football_sense_out_of_a_baking_question():
    """"home" is also 主场 (home ground); next to "bread" the corpus pairs it with 家 words, and the match report
    that mentions bread once does not make 主场 a sense of the question."""
    corpus = Corpus(["面包是用面粉烤的，在家也能做", "家里做面包不难", "回到家就烤面包", "主场作战优势明显",
                     "主场球队赢了，球迷在看台上吃面包", "客队在对方主场取胜", "足球比赛的主场和客场"])
    tr = translate("bread at home", corpus)
    assert "面包" in tr.chinese and "主场" not in tr.chinese
    assert set(dict(tr.pairs)["home"]) <= {"家", "家里", "在家"}


def test_surface_keys_tell_inflections_from_derivations():
    """A question's "collected" or "peaches" is the gloss's "to collect" or "peach" (an inflection); "effective"
    and "in effect" are not "effect" (a derivation, another phrase), though all share Snowball stems."""
    lines = ["有效 有效 [you3 xiao4] /effective/in effect/valid/",
             "效應 效应 [xiao4 ying4] /effect (scientific phenomenon)/",
             "收集 收集 [shou1 ji2] /to gather/to collect/",
             "桃子 桃子 [tao2 zi5] /peach/"]
    index = cedict.EnglishIndex.from_lines(lines, {})
    effect = {e.headword: e.surface for e in index.lookup("effect", cedict.surface_keys(["effect"]))}
    assert effect == {"效应": True, "有效": False}
    assert [e.surface for e in index.lookup("collect", cedict.surface_keys(["collected"]))] == [True]
    assert [e.surface for e in index.lookup("peach", cedict.surface_keys(["peaches"]))] == [True]
    assert "collect" in cedict.base_forms("collecting") and "stop" in cedict.base_forms("stopped")
    assert cedict.base_forms("home") == ("home",)


def test_cc_cedict_glosses_become_english_keys():
    """Real CC-CEDICT lines: a sense is split into glosses, notes in parentheses and pointers to other entries
    dropped, words stemmed; a word of a longer gloss is a weaker (partial) key; a proper noun's name leads."""
    lines = [
        "印章 印章 [yin4 zhang1] /seal/signet/chop/stamp/CL:方[fang1]/",
        "海豹 海豹 [hai3 bao4] /seal (animal)/",
        "芯片 芯片 [xin1 pian4] /computer chip/microchip/",
        "雲南 云南 [Yun2 nan2] /Yunnan province in southwest China, bordering on Vietnam, Laos and Myanmar, "
        "abbr. 滇[dian1] or 雲|云[Yun2], capital Kunming 昆明[Kun1 ming2]/",
        "國務院 国务院 [Guo2 wu4 yuan4] /State Council (PRC)/State Department (USA)/",
    ]
    index = cedict.EnglishIndex.from_lines(lines, {})
    assert {e.headword for e in index.lookup("seal")} == {"印章", "海豹"}
    assert "cl" not in index and "fang1" not in index
    assert [(e.headword, e.exact) for e in index.lookup("comput chip")] == [("芯片", True)]
    chip = index.lookup("chip")[0]
    assert chip.headword == "芯片" and not chip.exact and chip.weight < 1
    assert index.lookup("yunnan")[0].headword == "云南"
    assert index.lookup("state council")[0].headword == "国务院"
    assert all(e.headword != "国务院" for e in index.lookup("prc"))  # a note in parentheses, not a gloss


def test_the_derived_dictionary_is_cached_and_reloaded(tmp_path, monkeypatch):
    """The first load parses the packaged CC-CEDICT and writes a compact copy; the next reads it back."""
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path))
    first = cedict._load()
    assert first.meta["source"] == "parsed" and list(tmp_path.glob("cedict-en-*.bin"))
    assert not list(tmp_path.glob("*.tmp"))
    again = cedict._load()
    assert again.meta["source"] == "cache" and again.meta["version"] == first.meta["version"]
    assert len(again.slot) == len(first.slot) > 50_000
    assert again.lookup("state council") == first.lookup("state council")
    (cached,) = tmp_path.glob("cedict-en-*.bin")
    whole = cached.read_bytes()
    for damaged in (b"not an index", whole[:-100], whole + b"\0"):  # a damaged cache is rebuilt, not trusted
        cached.write_bytes(damaged)
        assert cedict._load().meta["source"] == "parsed"


def test_the_cached_dictionary_loads_without_parsing_python_literals(tmp_path, monkeypatch):
    """It loads in a background thread beside corpus loads, and CPython 3.11's literal parser (behind
    np.load's header) is not thread-safe: CI once failed a corpus load with a SystemError from it."""
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path))
    cedict._load()

    def refuse(*args):
        raise AssertionError("ast.literal_eval was called")

    monkeypatch.setattr(ast, "literal_eval", refuse)
    assert cedict._load().meta["source"] == "cache"


@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory):
    """A BM25-only index (--no-dense) of the mixed fixture: Chinese articles and one English page."""
    root = tmp_path_factory.mktemp("translation")
    build_index(FIXTURES / "mixed.json", options(root, "mixed", dense=False), progress=False)
    return root


@pytest.fixture(scope="module")
def mixed_bm25(mixed_dir) -> LoadedCorpus:
    return LoadedCorpus.open(layout.published_version(mixed_dir, "mixed"))


def test_bm25_term_stats_count_what_the_chunks_hold(mixed_bm25):
    """The adapter reads document frequency and co-occurrence off bm25s's matrix; check them by brute force."""
    stats = mixed_bm25.engine.term_stats
    assert isinstance(stats, TermStats) and isinstance(stats, CoOccurrenceStats)
    assert isinstance(NoCoOccurrence(SEALS), TermStats) and not isinstance(NoCoOccurrence(SEALS), CoOccurrenceStats)
    chunks = [set(tokenize(layout.passage_text(c.title, c.content)))
              for c in mixed_bm25.engine.chunks(list(range(mixed_bm25.manifest.chunks))).values()]
    terms = ["黄河", "泥沙", "长江", "模型", "gpt-4", "never-seen"]
    assert stats.doc_freq(terms) == {t: sum(t in c for c in chunks) for t in terms}
    groups = ["黄河", "泥沙", ["大", "模型"], "长江"]
    want = [[sum(all(t in c for t in ([a] if isinstance(a, str) else a)) and
                 all(t in c for t in ([b] if isinstance(b, str) else b)) for c in chunks) for b in groups]
            for a in groups]
    assert stats.co_occurrence(groups).tolist() == want


def test_an_english_question_finds_the_chinese_article_on_a_bm25_only_index(mixed_dir, mixed_bm25):
    """The use case: no vectors yet, an English question. Plain BM25 has nothing to match; translated, the
    Yellow River article (黄河, 泥沙) comes first, and the response shows what was searched."""
    assert mixed_bm25.manifest.dominant_script == "cjk"  # recorded by every build, --no-dense included
    question = "How much silt does the Yellow River carry?"
    outcome = search(mixed_bm25, SearchParams(question, "bm25", top_k=3), FusionParams(), 100)
    assert outcome.hits[0].chunk.title == "黄河的泥沙问题"
    assert {"黄河", "泥沙"} <= set(outcome.translation.translated)
    backend = LocalBackend(Settings(index_dir=mixed_dir), eager=False)
    resp = backend.search(SearchRequest(corpus="mixed", query=question, mode="bm25"))
    assert {"黄河", "泥沙"} <= set(resp.translated_terms)
    assert backend.search(SearchRequest(corpus="mixed", query="黄河的泥沙", mode="bm25")).translated_terms is None
    plain = mixed_bm25.engine.candidates(EngineQuery(question, tokenize(question), None, "bm25", 100))
    best = mixed_bm25.engine.chunks([plain.best_lexical]) if plain.best_lexical is not None else {}
    assert all(c.title != "黄河的泥沙问题" for c in best.values())  # untranslated, BM25 does not find it


def test_a_given_trust_replaces_the_coverage_ramp_in_fusion():
    """RAG_TRANSLATED_BM25_TRUST sets BM25's weight for a translated question whatever its coverage (the
    coverage of a translation is low by construction: of a word's two or three translations a chunk holds one)."""
    from app.ranking.fusion import fuse

    bm25, dense = np.array([10.0, 8.0, 0.0]), np.array([0.70, 0.72, 0.90])
    assert np.argmax(fuse(bm25, dense, 0.05, FusionParams())) == 2  # low coverage: dense alone
    assert np.argmax(fuse(bm25, dense, 0.05, FusionParams(), trust=1.0)) == 0
    assert np.allclose(fuse(bm25, dense, 0.05, FusionParams(), trust=None), fuse(bm25, dense, 0.05, FusionParams()))


def test_a_chinese_question_gets_the_english_words_the_corpus_uses():
    """The other direction (Chinese -> English): each Chinese term's one-word CC-CEDICT glosses, in the forms a
    text inflects them to, kept where the corpus uses them; the corpus's own forms win (gradients, squeezing)."""
    corpus = Corpus(["The squeezing effect appears when negative gradients push probability mass",
                     "Gradient descent with a learning rate", "Large language model fine-tuning on preference data",
                     "大模型的微调方法", "负梯度导致挤压效应"])
    pairs = dict(english_terms("负梯度的挤压效应是什么", corpus).pairs)
    assert pairs["梯度"] == ("gradients",) and pairs["挤压"] == ("squeezing",) and pairs["效应"] == ("effect",)
    assert english_terms("黄河的泥沙", corpus).terms == ()  # the corpus has no English words for them


def test_question_words_get_no_english_words():
    """什么 -> "anything" and 有 -> "-al"/"-ed" are glosses of question words: as concepts of their own, missing
    from the answering article, they made answered CMRC questions look weak over a corpus with English pages."""
    corpus = Corpus(["Is there anything new? A wonderful, useful, colored table.", "猴面包树又名猢狲树。"])
    found = english_terms("猴面包树有什么别名", corpus)
    assert not {"anything", "al", "ed", "ful"} & set(found.terms)
    assert not {"什么", "有"} & {chinese for chinese, _ in found.pairs}


PAPER = [  # an English corpus (a paper's sections) with one Chinese note: questions in Chinese reach it
    {"title": "Learning dynamics of finetuning", "page_body": "We study how negative gradients on unlikely "
     "responses squeeze probability mass towards the most likely token: the squeezing effect."},
    {"title": "Experimental setup", "page_body": "Models are trained with a learning rate of 1e-5 for three epochs "
     "on preference data, with batch size 64."},
    {"title": "Related work", "page_body": "Direct preference optimisation and reinforcement learning from human "
     "feedback align language models with human preferences."},
    {"title": "Limitations", "page_body": "Our analysis covers only models up to seven billion parameters."},
    {"title": "笔记", "page_body": "这篇论文讨论了微调。"},
]


ARTICLES = [{"title": "黄河的泥沙问题", "page_body": "黄河每年输送大量泥沙，下游河床不断抬高。"},
            {"title": "长江三峡工程", "page_body": "三峡工程是长江上的大型水利枢纽，具有防洪和发电效益。"},
            {"title": "大模型微调方法", "page_body": "微调大模型时，学习率和数据质量决定效果。"},
            {"title": "城市公共交通", "page_body": "优先发展城市公共交通，缓解交通拥堵。"}] * 3  # a mostly Chinese corpus


def _bm25_only(tmp_path, name: str, docs: list[dict]) -> LoadedCorpus:
    build_index(write_corpus(tmp_path / f"{name}.json", docs), options(tmp_path, name, dense=False), progress=False)
    return LoadedCorpus.open(layout.published_version(tmp_path, name))


def test_a_chinese_question_finds_the_english_paper_on_a_bm25_only_index(tmp_path):
    """A mostly English corpus and a Chinese question: BM25 searches the question's English words as well, so
    without vectors the paper's section on the squeezing effect comes first."""
    corpus = _bm25_only(tmp_path, "paper", PAPER)
    assert corpus.manifest.dominant_script == "latin"
    outcome = search(corpus, SearchParams("负梯度的挤压效应", "bm25", top_k=3), FusionParams(), 100)
    assert outcome.hits[0].chunk.title == "Learning dynamics of finetuning"
    assert {"squeezing", "gradients"} <= set(outcome.terms)


def test_a_chinese_question_reaches_an_english_paper_among_chinese_articles(tmp_path):
    """The paper is the corpus's only English text: its English words are searched apart from the Chinese ones
    (app/ranking/search._with_english), so BM25 alone finds it, the weak-match confidence counts a concept held in
    English, and the Chinese articles keep their own ranking."""
    corpus = _bm25_only(tmp_path, "mixed", ARTICLES + PAPER[:2])
    assert corpus.manifest.dominant_script == "cjk"
    outcome = search(corpus, SearchParams("负梯度的挤压效应", "bm25", top_k=3), FusionParams(), 100)
    assert outcome.hits[0].chunk.title == "Learning dynamics of finetuning"
    assert {"squeezing", "gradients"} <= set(outcome.terms)
    # the paper holds the question's concepts in English: judged by them, not by its lack of Chinese words
    assert outcome.confidence.lexical == 1.0 and not outcome.confidence.value < 0.5
    chinese = search(corpus, SearchParams("黄河的泥沙", "bm25", top_k=3), FusionParams(), 100)
    assert chinese.hits[0].chunk.title == "黄河的泥沙问题"


def test_an_english_page_counts_as_far_as_it_holds_the_question_in_english(tmp_path):
    """Among Chinese articles, a stray English page that only repeats the generic "model" stays below the Chinese
    article on the question; the English section holding its concepts in English (models, learning rate) scores
    with the best Chinese match (app/ranking/fusion.english_side)."""
    stray = {"title": "Model railways", "page_body": "A model railway is a model of a railway: model trains, model "
             "stations and model bridges at a small scale, built by hobbyists."}
    corpus = _bm25_only(tmp_path, "stray", ARTICLES + PAPER[:2] + [stray])
    hits = search(corpus, SearchParams("大模型的微调方法", "bm25", top_k=5), FusionParams(), 100).hits
    score = {h.chunk.title: h.bm25 for h in hits}
    assert hits[0].chunk.title == "大模型微调方法" and 0 < score["Model railways"] < score["大模型微调方法"]
    hits = search(corpus, SearchParams("模型微调的学习率", "bm25", top_k=5), FusionParams(), 100).hits
    score = {h.chunk.title: h.bm25 for h in hits}
    assert score["Experimental setup"] == pytest.approx(score["大模型微调方法"])
