"""How sure are we that the top results answer the query? One number in [0, 1] plus its parts.

Two pieces of evidence, each meaning the same for a Chinese question and an English one over Chinese text:

- lexical: the IDF-weighted share of the question's concepts that the best of the top three hits contains.
  A concept is a query term, or for a question translated for BM25 (``app.ranking.translation``) one English phrase,
  present when any of its chosen translations is. Words the corpus lacks count as absent concepts of the
  highest weight: a Chinese term the corpus never saw, an English word with no translation the corpus uses
  (koalas, Coursera over a corpus without them).
- dense: how far the best dense score stands above what an unrelated chunk of this corpus scores for the same
  query (a fixed sample of chunks), in standard deviations, minus the level the best of N unrelated chunks
  reaches by chance (N = the corpus's chunks). Measured against the whole corpus, not the nearest chunks, a
  topic with many related documents is not read as a flat match, and the size correction keeps a 30-paragraph
  corpus and a 10,000-chunk one on one scale.

They add up as log-odds (weights fitted on calibration questions, docs/quality.md), so ``value`` reads as a
probability and 0.5 is the boundary of ``low_confidence``. A search without vectors has only the lexical part,
with its own boundary.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np

from indexing.tokenizer import tokenize

# Weights from a logistic regression on the calibration questions (docs/quality.md, "Weak-match flag across
# languages"), each language and class (answerable, no-answer) weighing the same; the bias sits 2 above that fit's
# (the flag errs towards trusting a result), so that no miro or CMRC set gets more false flags than the rule before.
# Boundary (0.5): lexical 0.50 at dense 0, 0.35 at dense 1, 0.21 at dense 2.
W_DENSE = 1.45  # per standard deviation above chance
W_LEXICAL = 10.1  # per unit of concept coverage
BIAS = -5.0
# Without vectors (BM25 only) the lexical part alone, fitted and shifted the same way: boundary 0.41.
W_LEXICAL_ONLY = 11.5
BIAS_LEXICAL_ONLY = -4.7
TOP_HITS = 3  # hits whose concept coverage counts (the answer is often the second or third)
# Chinese question and function words, the counterparts of those English questions lose in translation (what,
# which, how, can, should, do, for, after...): they ask but name nothing, and an answer seldom repeats them
# (猴面包树的别名是什么 -> 又名...). The index's own stop words (的 了 是...) are gone already.
QUESTION_WORDS = frozenset("""
什么 哪 哪些 哪个 哪位 哪里 哪儿 何 何处 何时 何地 为什么 为何 怎么 怎样 怎么样 如何 多少 多久 多长时间 几 谁 由谁来
吗 呢 吧 是否 是不是 有没有 算不算 能不能 可不可以 请问 有 能 会 可以 要 应该 应当 需要 做 给 让 向 跟 用 后 前 时
这个 那个 这次 此 时候 一般 通常
""".split())


@dataclass(frozen=True)
class Confidence:
    value: float
    lexical: float
    dense: float | None  # standard deviations above chance, None without vectors


@dataclass(frozen=True)
class Concept:
    """One thing the question asks about: present in a text when all terms of one of its choices are."""

    choices: tuple[tuple[str, ...], ...]
    weight: float


def lexical_evidence(terms: list[str], idf: dict[str, float], top_text: str, max_idf: float) -> float:
    """IDF-weighted share of the query terms in ``top_text`` (unknown terms weigh as the rarest). Fusion's BM25
    trust uses it (app/ranking/fusion.py); the confidence uses concepts (below), the same for translated questions."""
    if not terms or not top_text:
        return 0.0
    present = set(tokenize(top_text))
    weights = [idf.get(t, max_idf) for t in terms]
    matched = sum(w for t, w in zip(terms, weights) if t in present)
    return matched / sum(weights) if sum(weights) > 0 else 0.0


def concepts_of(terms: Sequence[str], idf: dict[str, float], max_idf: float,
                groups: Sequence[Sequence[Sequence[str]]] | None = None, unmatched: int = 0
                ) -> tuple[list[Concept], float]:
    """The question's concepts and the total weight of those the corpus lacks.

    ``groups``: for a translated question, per English phrase the index terms of each chosen translation
    (``Translation.groups``); a phrase weighs as its most common choice. ``unmatched``: English words left
    without a translation the corpus uses. Without groups every term is a concept; a term the corpus never
    saw (absent from ``idf``) is a lacking one.
    """
    if groups is None:
        terms = [t for t in terms if not asks(t)]
        known = [Concept(((t,),), idf[t]) for t in terms if t in idf]
        return known, max_idf * sum(1 for t in terms if t not in idf)
    concepts = []
    for group in groups:
        choices = tuple(tuple(c) for c in group if c and not all(asks(t) for t in c))
        if choices:
            weight = min(max(idf.get(t, max_idf) for t in c) for c in choices)
            concepts.append(Concept(choices, weight))
    return concepts, max_idf * unmatched


_WHICH_OR_HOW_MANY = re.compile(r"^[哪几]一?[个位年种类门次天项条名家届岁号月日点件部本座所支只场些]$")  # 哪一年, 几门


def asks(term: str) -> bool:
    """A question word (哪一年, 几个, 什么): no concept of its own (几何 and 哪吒 are)."""
    return term in QUESTION_WORDS or bool(_WHICH_OR_HOW_MANY.match(term))


def coverage(concepts: Sequence[Concept], lacking: float, text: str) -> float:
    """Weighted share of the concepts ``text`` holds; lacking concepts count as absent."""
    total = sum(c.weight for c in concepts) + lacking
    if total <= 0 or not text:
        return 0.0
    present = set(tokenize(text))
    held = sum(c.weight for c in concepts if any(all(t in present for t in choice) for choice in c.choices))
    return held / total


def held_in_translation(concepts: Sequence[Concept], lacking: float, text: str) -> float:
    """Weighted share of the concepts ``text`` holds only in translation: through one of a concept's later choices
    and not through its first, the question's own word (a Chinese question's concepts with their English words,
    app/ranking/search._concepts). What a passage says of the question in the other script; a Chinese article with a
    stray English word it also holds in Chinese adds nothing (app/ranking/fusion.english_side)."""
    total = sum(c.weight for c in concepts) + lacking
    if total <= 0 or not text:
        return 0.0
    present = set(tokenize(text))

    def has(choice: tuple[str, ...]) -> bool:
        return all(t in present for t in choice)

    held = sum(c.weight for c in concepts if not has(c.choices[0]) and any(has(ch) for ch in c.choices[1:]))
    return held / total


def dense_evidence(top: float | None, reference: np.ndarray | None, population: int) -> float | None:
    """Standard deviations by which the best score beats the reference sample, minus chance for ``population``.

    The best of N unrelated chunks is expected near the 1 - 1/N quantile of their scores (2.1 sd for 57
    chunks, 3.7 for 10,000), so a corpus's size does not pass for a match.
    """
    if top is None or reference is None or len(reference) < 2:
        return None
    sd = float(np.std(reference))
    if sd <= 0:
        return None
    chance = NormalDist().inv_cdf(1.0 - 1.0 / max(population, 2))
    return (top - float(np.mean(reference))) / sd - chance


def assess(concepts: Sequence[Concept], lacking: float, top_texts: Sequence[str], dense: float | None
           ) -> Confidence:
    """Combine the evidence (see the module docstring); ``top_texts``: the best hits' texts, best first."""
    if not top_texts:  # nothing came back: nothing answers
        return Confidence(0.0, 0.0, None if dense is None else round(dense, 4))
    lexical = max((coverage(concepts, lacking, t) for t in top_texts[:TOP_HITS]), default=0.0)
    if dense is None:
        logit = W_LEXICAL_ONLY * lexical + BIAS_LEXICAL_ONLY
    else:
        logit = W_DENSE * dense + W_LEXICAL * lexical + BIAS
    value = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))
    return Confidence(round(value, 4), round(lexical, 4), None if dense is None else round(dense, 4))
