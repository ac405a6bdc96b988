"""Ranking: how candidates are found, fused, scored and translated, engine-neutral.

The search over a served index version (what it needs of one: ``search.SearchableCorpus``), fusion of BM25 and
dense evidence, near-duplicate diversity, confidence, query centering and encoding, and the dictionary translation
of questions. It may import ``app.engines`` (the engine protocol), the top-level modules (``settings``, ``errors``,
``schemas``, ``deadline``) and ``indexing``; never ``app.agent``, ``app.backend``, ``app.serving`` or
``app.quality``.
"""
