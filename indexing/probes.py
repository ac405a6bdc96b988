"""Content-free questions in each script; their mean embedding is the direction every question shares.

Multilingual embedders place a query near any passage in the query's own language:
an English question over a Chinese corpus is pulled towards the few English pages
(and a Chinese one towards generic Chinese text), whatever their topic. The service
removes a share of this direction from each query (``app/ranking/centering.py``). The build
embeds these probes once and stores their means in the index (``layout.PROBE_MEANS``),
so no serving process pays for ~40 embeddings when it loads an index.
"""
from __future__ import annotations

import numpy as np

from indexing import layout
from indexing.embedders import Embedder

PROBES = {
    "latin": ["What is this?", "How does it work?", "Why did this happen?", "What are the main points?",
              "Who is responsible?", "When did it happen?", "What is the difference between them?",
              "How much does it cost?", "What does the report say?", "What are the advantages and disadvantages?",
              "Where is it located?", "How many are there?", "What should I do?", "What is the purpose of this?",
              "How can it be improved?", "What are the risks?", "What happened next?", "Which one is better?",
              "What is the latest news?", "How is it used?"],
    "cjk": ["这是什么？", "它是如何工作的？", "为什么会发生这种情况？", "主要内容有哪些？", "谁应该负责？", "什么时候发生的？",
            "它们之间有什么区别？", "需要多少钱？", "报告说了什么？", "有哪些优点和缺点？", "它位于哪里？", "一共有多少个？",
            "我应该怎么做？", "这样做的目的是什么？", "如何改进？", "有哪些风险？", "接下来发生了什么？", "哪一个更好？",
            "最新消息是什么？", "它是怎么使用的？"],
}


def probe_means(embedder: Embedder) -> np.ndarray:
    """float32 (scripts, dim): mean embedding of each script's probe questions, rows in ``layout.SCRIPTS`` order."""
    return np.stack([np.mean([embedder.embed_query(q) for q in PROBES[script]], axis=0)
                     for script in layout.SCRIPTS]).astype(np.float32)
