"""One backend interface behind every front end (REST routes, MCP tools, eval); see ``protocol.py``."""
