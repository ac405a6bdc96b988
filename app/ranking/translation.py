"""Dictionary translation of a question into the corpus's script, for BM25 (engine-neutral: no bm25s, no faiss).

An English question over a Chinese corpus shares almost no terms with it, so BM25 alone can only match the
names it keeps in Latin letters (MRR@10 0.29 over miro). Here the question is translated word by word with
CC-CEDICT (``app.ranking.cedict``) and the corpus itself chooses among the dictionary's candidates:

1. English phrases are matched longest first (``state council`` -> 国务院 before ``state`` and ``council``),
   over stemmed content words; function words are dropped.
2. A candidate the corpus never uses (document frequency 0) is dropped; a phrase left without one is not
   translated.
3. Among the rest, a candidate is preferred when it co-occurs with the candidates of the question's other
   phrases (the sense that fits the topic: 印章 rather than 海豹 for "seal" next to "calligraphy"), when it
   is a whole word rather than a single character, when the dictionary gives it as a main sense, and when its
   gloss says the question's word itself rather than a word with the same stem ("effect" -> 效应 before 有效
   from "effective"; "home" -> 家 before 寻的 from "homing"). How often the corpus uses a sense counts only
   through co-occurrence: its most used sense is usually its word for the thing ("model" -> 模型).
4. Chosen Chinese terms are segmented with the index's tokenizer, so they are index terms; Latin tokens of
   the question that the corpus knows (names, acronyms, numbers: GPT-4, BERT, 2035) are kept beside them.

Nothing here is tuned to a question: no word lists beyond English function words, the same rule for every
phrase. The search engine supplies the statistics through ``TermStats`` (app/engines/protocol.py).
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from app.engines.protocol import CoOccurrenceStats, TermStats
from app.ranking import cedict
from app.ranking.confidence import asks
from indexing.tokenizer import script_of, tokenize

MAX_CANDIDATES = 16  # per phrase, looked at for co-occurrence (best prior x log corpus frequency first)
MAX_GROUPS = 256  # candidates over all phrases (a pasted paragraph gets fewer per phrase: bounded cost)
MAX_WORDS = 64  # content words of the question translated; the rest of a very long one is left out
MAX_CHOSEN = 3  # per phrase, searched
CHOSEN_SHARE = 0.5  # ... when scoring at least this share of the phrase's best
COHERENCE_FLOOR = 0.1  # a candidate that co-occurs with nothing keeps this share of its dictionary score
# Prior factor of a sense whose gloss shares only the stems of the question's words (effective for "effect"): a
# tie-break among the dictionary's equal senses. English over miro, 76 questions, BM25 MRR@10: 0.830 without it,
# 0.813 at 0.5, 0.829 at 0.7, 0.832 at 0.85 (docs/quality.md, "Translation sense choice").
STEM_ONLY = 0.85


@dataclass(frozen=True)
class Translation:
    chinese: tuple[str, ...]  # index terms of the chosen translations
    kept: tuple[str, ...]  # the question's own terms the corpus knows: Latin names, acronyms, numbers (GPT-4,
    # BERT, 2035), and any words already in the corpus's script (a mixed question: "MIT OpenCourseWare指什么")
    pairs: tuple[tuple[str, tuple[str, ...]], ...] = ()  # English phrase -> chosen Chinese words, for display
    groups: tuple[tuple[tuple[str, ...], ...], ...] = field(default=(), repr=False)  # per phrase: terms of each choice
    unmatched: tuple[str, ...] = ()  # content words left out: no translation the corpus uses, nor known as written
    # (koalas, Coursera over a corpus without them): the corpus lacks what they name, or names it otherwise

    @property
    def terms(self) -> list[str]:
        """Query terms for BM25: the translations, then the question's own terms."""
        return list(dict.fromkeys((*self.chinese, *self.kept)))

    @property
    def translated(self) -> list[str]:
        """The chosen Chinese words, in question order (what a response shows)."""
        return list(dict.fromkeys(w for _, words in self.pairs for w in words))


def needs_translation(query: str, corpus_script: str | None) -> bool:
    """Translate only a question written in another script than most of the corpus, in the direction the
    dictionary goes: Latin letters over a Chinese corpus. A question with any Chinese in it is searched as it
    is: its Latin words are then names and titles ("《This Is Where I Came In》是Bee Gees的第几张专辑"), which
    the corpus writes as they are."""
    return corpus_script == "cjk" and script_of(query) == "latin" and not _CJK.search(query)


@dataclass(frozen=True)
class _Word:
    text: str  # as written
    bare: str  # lower-cased, possessive 's dropped
    stem: str
    segment: int  # punctuation-delimited part of the question
    lookup: bool  # worth a dictionary look-up (not a number or an acronym)
    name: bool  # capitalised inside the question: only whole dictionary glosses translate it


_CJK = re.compile(r"[\u3400-\u9fff]")
_SEGMENT_BREAK = re.compile(r"[^\w\s'’.\-]+|\.(?!\w)")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")


def _words(query: str) -> list[_Word]:
    """Content words of the question (function words dropped), in order."""
    out, first = [], True
    for seg, part in enumerate(_SEGMENT_BREAK.split(query)):
        for m in _WORD.finditer(re.sub(r"[-.]", " ", part)):
            text = m.group().replace("’", "'")
            lower = text.lower()
            bare = lower[:-2] if lower.endswith("'s") else lower
            is_first, first = first, False
            if bare in cedict.STOP_WORDS or lower in cedict.STOP_WORDS or lower in cedict.PLACEHOLDERS:
                continue
            acronym = text.isupper() or any(ch.isupper() for ch in text[1:]) or any(ch.isdigit() for ch in text)
            out.append(_Word(text, bare, cedict.stem(bare), seg, lookup=not acronym,
                             name=not is_first and text[:1].isupper()))
    return out


@lru_cache(maxsize=65536)
def _terms_of(text: str) -> tuple[str, ...]:
    return tuple(t for t in tokenize(text) if t not in cedict.STOP_WORDS)


@dataclass
class _Candidate:
    headword: str  # Chinese word, or the question's own words for the Latin candidate
    terms: tuple[str, ...]  # index terms
    prior: float
    own: bool = False  # the question's own words, not a translation
    df: int = 0
    score: float = 0.0


@dataclass
class _Phrase:
    words: list[_Word]
    candidates: list[_Candidate]
    source: str = ""  # the Chinese term, translating into English (``english_terms``)

    @property
    def text(self) -> str:
        return self.source or " ".join(w.text for w in self.words)


def _dictionary_candidates(dictionary: cedict.EnglishIndex, words: list[_Word]) -> list[_Candidate]:
    whole_only = len(words) > 1 or words[0].name  # a phrase or a name must be a whole gloss
    out = []
    for e in dictionary.lookup(" ".join(w.stem for w in words), cedict.surface_keys([w.bare for w in words])):
        if whole_only and not e.exact:
            continue
        terms = _terms_of(e.headword)
        if terms:
            out.append(_Candidate(e.headword, terms, e.weight * (1.0 if e.surface else STEM_ONLY)))
    return out


def _own_candidate(words: list[_Word]) -> _Candidate | None:
    """The question's own words, searched as they are (a name the corpus writes in Latin letters)."""
    terms = _terms_of(" ".join(w.bare for w in words))
    return _Candidate(" ".join(w.text for w in words), terms, 1.0, own=True) if terms else None


def _match_phrases(words: list[_Word], dictionary: cedict.EnglishIndex, usable) -> list[_Phrase]:
    """Longest dictionary phrases first, each within a segment; a phrase needs a candidate the corpus uses.
    Words left over (names, numbers, acronyms, words the dictionary lacks) stay as they are."""
    taken = [False] * len(words)
    found: list[tuple[int, _Phrase]] = []
    for n in range(cedict.MAX_PHRASE_WORDS, 0, -1):
        for i in range(len(words) - n + 1):
            span = words[i:i + n]
            if any(taken[i:i + n]) or len({w.segment for w in span}) > 1 or not all(w.lookup for w in span):
                continue
            cands = usable(_dictionary_candidates(dictionary, span))
            if cands:
                found.append((i, _Phrase(span, cands)))
                taken[i:i + n] = [True] * n
    for i, w in enumerate(words):
        if not taken[i]:
            found.append((i, _Phrase([w], [])))
    phrases = [p for _, p in sorted(found, key=lambda x: x[0])]
    for p in phrases:
        own = _own_candidate(p.words)
        if own is not None:
            p.candidates += usable([own])
    return [p for p in phrases if p.candidates]


def _base_score(c: _Candidate) -> float:
    """Before co-occurrence: the dictionary's prior, whole words over single characters. No penalty for a sense the
    corpus uses often: it is the corpus's word for the thing ("model" -> 模型 over an AI corpus, not 造型); BM25's
    IDF already weighs it. Dropping that penalty (a term in over 20 % of the chunks halved): English over miro,
    BM25 MRR@10 0.830 -> 0.832."""
    length = 1.0 if c.own or len(c.headword) >= 2 else 0.5
    return c.prior * length


def _local_mi(co: np.ndarray, n: int) -> np.ndarray:
    """Co-occurrence count times log(observed / expected), negative parts cut: high for pairs that share many
    chunks and more than chance would give (plain PMI would favour pairs seen once in two rare terms)."""
    df = np.diag(co).astype(np.float64)
    expected = np.outer(df, df) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        lmi = co * np.log(co / expected)
    lmi[~np.isfinite(lmi)] = 0.0
    return np.maximum(lmi, 0.0)


def translate(query: str, stats: TermStats, dictionary: cedict.EnglishIndex | None = None) -> Translation:
    """Translate an English question into index terms of a Chinese corpus (see the module docstring)."""
    dictionary = dictionary or cedict.english_index()
    usable = _Usable(stats)
    words = _words(query)[:MAX_WORDS]
    phrases = _match_phrases(words, dictionary, usable)
    matched = {id(w) for p in phrases for w in p.words}
    unmatched = tuple(dict.fromkeys(w.bare for w in words if id(w) not in matched))
    # words of the question already in the corpus's script stay as they are (and give context to the rest)
    phrases += [_Phrase([], [c]) for c in usable([_Candidate(t, (t,), 1.0, own=True)
                                                 for t in dict.fromkeys(tokenize(query)) if _is_cjk(t)])]
    pairs, chinese, kept, groups = [], [], [], []
    for p, picked in _choose(phrases, stats):
        words = tuple(c.headword for c in picked if not c.own)
        if words:
            pairs.append((p.text, words))
        groups.append(tuple(c.terms for c in picked))
        for c in picked:
            (kept if c.own else chinese).extend(c.terms)
    kept += _compounds(query, set(kept), stats)
    return Translation(tuple(dict.fromkeys(chinese)), tuple(dict.fromkeys(kept)), tuple(pairs), tuple(groups),
                       unmatched)


class _Usable:
    """Keeps the candidates the corpus uses (document frequency > 0), counting each term once."""

    def __init__(self, stats: TermStats):
        self.stats, self.df = stats, {}

    def __call__(self, cands: list[_Candidate]) -> list[_Candidate]:
        missing = list(dict.fromkeys(t for c in cands for t in c.terms if t not in self.df))
        if missing:
            self.df.update(self.stats.doc_freq(missing))
        keep = []
        for c in cands:
            c.df = min(self.df[t] for t in c.terms)
            if c.df > 0:
                keep.append(c)
        return keep


def _choose(phrases: list[_Phrase], stats: TermStats) -> list[tuple[_Phrase, list[_Candidate]]]:
    """Each phrase with its chosen candidates, best first: scored (``_base_score``), rescaled by co-occurrence
    with the other phrases' candidates where the engine counts it, then up to MAX_CHOSEN within CHOSEN_SHARE of
    the best."""
    n = max(int(stats.n_chunks), 1)
    for p in phrases:
        for c in p.candidates:
            c.score = _base_score(c)
        p.candidates.sort(key=lambda c: -c.score * math.log(2 + c.df))
        del p.candidates[min(MAX_CANDIDATES, max(2, MAX_GROUPS // max(len(phrases), 1))):]
    if len(phrases) > 1 and isinstance(stats, CoOccurrenceStats):
        _prefer_coherent(phrases, stats, n)
    chosen = []
    for p in phrases:
        ranked = sorted(p.candidates, key=lambda c: -c.score)
        chosen.append((p, [c for c in ranked[:MAX_CHOSEN] if c.score >= CHOSEN_SHARE * ranked[0].score]))
    return chosen


@dataclass(frozen=True)
class EnglishTerms:
    """A Chinese question's words in English, for BM25 over the English text of a corpus (a paper among
    Chinese articles, or an English corpus)."""

    terms: tuple[str, ...]  # index terms of the chosen English words
    pairs: tuple[tuple[str, tuple[str, ...]], ...] = ()  # Chinese term -> chosen English words, for display


def english_terms(query: str, stats: TermStats, dictionary: cedict.EnglishIndex | None = None) -> EnglishTerms:
    """The other direction: each Chinese term of the question -> the one-word English glosses CC-CEDICT gives
    it, in the forms a text inflects them to, and of those the words the corpus uses, chosen as ``translate``
    chooses (main senses, co-occurrence with the other terms' English words). Empty where the corpus has no
    English words for them. Question words have none (什么 -> "anything", 有 -> the suffixes "-al", "-ed"): they
    are no concept of the question (app/ranking/confidence.asks), and as concepts of their own they made answered
    CMRC questions look weak in BM25 mode (docs/quality.md, "Mixed scripts in one corpus")."""
    dictionary = dictionary or cedict.english_index()
    usable = _Usable(stats)
    phrases = []
    for term in [t for t in dict.fromkeys(tokenize(query)) if _is_cjk(t) and not asks(t)][:MAX_WORDS]:
        cands = [_Candidate(form, (form,), prior) for gloss, prior in dictionary.glosses(term)
                 if len(_terms_of(gloss)) == 1 for form in cedict.inflections(_terms_of(gloss)[0])]
        cands = usable(cands)
        if cands:
            phrases.append(_Phrase([], cands, source=term))
    pairs, terms = [], []
    for p, picked in _choose(phrases, stats):
        pairs.append((p.text, tuple(c.headword for c in picked)))
        terms += [t for c in picked for t in c.terms]
    return EnglishTerms(tuple(dict.fromkeys(terms)), tuple(pairs))


def _prefer_coherent(phrases: list[_Phrase], stats: TermStats, n: int) -> None:
    """Rescale each candidate by how well it co-occurs with the best-fitting candidate of every other phrase."""
    flat = [(i, c) for i, p in enumerate(phrases) for c in p.candidates]
    co = np.asarray(stats.co_occurrence([c.terms for _, c in flat]), dtype=np.float64)
    for k, (_, c) in enumerate(flat):
        c.df = int(co[k, k])
    assoc = _local_mi(co, n)
    owner = np.array([i for i, _ in flat])
    coherence = np.zeros(len(flat))
    for i in range(len(phrases)):
        rows = owner == i
        for j in range(len(phrases)):
            if j != i:
                coherence[rows] += assoc[np.ix_(rows, owner == j)].max(axis=1)
    for i, p in enumerate(phrases):
        rows = np.flatnonzero(owner == i)
        best = coherence[rows].max()
        if best > 0:
            for k in rows:
                flat[k][1].score *= COHERENCE_FLOOR + coherence[k] / best


def _compounds(query: str, kept: set[str], stats: TermStats) -> list[str]:
    """Whole Latin compounds of the question (gpt-4, covid-19) whose parts are kept and that the corpus knows."""
    compounds = [t for t in tokenize(query) if re.search(r"[-_.+/']", t)
                 and set(re.split(r"[-_.+/']", t)) - {"s"} <= kept]
    df = stats.doc_freq(compounds) if compounds else {}
    return [t for t in compounds if df.get(t, 0) > 0]


def _is_cjk(term: str) -> bool:
    return script_of(term) == "cjk"
