"""Agent: what an agent is handed and what it hands back.

Evidence-first context within a token budget, the evidence sentences and their highlights, citation strings (of
JSON chunks and of document places) with the support a citation gives its claim, reading a document in order,
and the text layout of MCP answers. It may import ``app.ranking``, ``app.engines`` (records), the top-level
modules (``settings``, ``errors``, ``schemas``, ``deadline``) and ``indexing``; never ``app.backend``,
``app.serving`` or ``app.quality``.
"""
