"""One backend interface behind every front end (REST routes, MCP tools, eval); see ``protocol.py``.

The local backend answers from the indexes its ``registry`` keeps loaded (``loaded``: one served index version;
hot reload, idle eviction); the remote one forwards to a ``zh-rag serve``. It may import ``app.agent``,
``app.ranking``, ``app.engines``, the top-level modules and ``indexing``; never ``app.serving`` or ``app.quality``.
"""
