"""Ranking: how candidates are found, fused, scored and translated, engine-neutral.

The served index version (``loaded``: an engine, its query encoder and folder map), the search over it, fusion of
BM25 and dense evidence, near-duplicate diversity, confidence, query centering and the dictionary translation of
questions. It may import ``app.engines`` (the engine protocol), the top-level modules (``settings``, ``errors``,
``schemas``, ``deadline``) and ``indexing``; never ``app.agent``, ``app.backend``, ``app.serving`` or
``app.quality`` (one exception, named in pyproject's layers contract: ``loaded`` holds the agent's folder map).
"""
