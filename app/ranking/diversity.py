"""Choose top-k results that span several documents without giving up score order."""
from __future__ import annotations

from typing import Hashable, Sequence


def group_representatives(scores: Sequence[float], docs: Sequence[int], groups: Sequence[Hashable]) -> list[int]:
    """Indices of the candidates from each group's best-scoring document only.

    A near-duplicate group is one article posted several times: its copies carry the same passages, so
    showing one copy's chunks leaves room for other articles instead of the same text twice.
    """
    best_doc: dict[Hashable, int] = {}
    for i in sorted(range(len(scores)), key=lambda i: (-scores[i], i)):
        best_doc.setdefault(groups[i], docs[i])
    return [i for i in range(len(scores)) if docs[i] == best_doc[groups[i]]]


def diverse_top_k(
    scores: Sequence[float], groups: Sequence[Hashable], top_k: int, min_docs: int, max_per_doc: int
) -> list[int]:
    """Indices of the chosen candidates, best score first.

    The choice maximises total score subject to: at most ``max_per_doc`` per
    group, and at least ``min(min_docs, groups present, top_k)`` groups. The
    best chunk of each of the top-scoring groups is reserved first, the rest is
    filled by score; the result is then ordered by score (never by document).
    """
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    best_of_group: dict[Hashable, int] = {}
    for i in order:
        best_of_group.setdefault(groups[i], i)
    need = min(min_docs, len(best_of_group), top_k)
    chosen = list(best_of_group.values())[:need]
    per_group = {groups[i]: 1 for i in chosen}
    taken = set(chosen)
    for i in order:
        if len(chosen) >= top_k:
            break
        g = groups[i]
        if i not in taken and per_group.get(g, 0) < max_per_doc:
            chosen.append(i)
            taken.add(i)
            per_group[g] = per_group.get(g, 0) + 1
    return sorted(chosen, key=lambda i: (-scores[i], i))
