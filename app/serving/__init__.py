"""Serving: the front ends and what runs around them.

The FastAPI application and its routes, metrics, pages and the playground's static files, the MCP server (stdio
and HTTP) with on-demand indexing and its access rules, and the tests' and benchmark's real server on loopback
(``devserver``). Front ends call the backend interface (``app.backend.protocol``, ``app.backend.factory``); the
REST app and its metrics also open the local backend. It may import ``app.backend``, ``app.agent`` (the MCP text
layout), the top-level modules and ``indexing`` (on-demand indexing only); never ``app.quality``, and never an
engine, the loaded indexes or the search directly (the contracts in pyproject.toml).
"""
