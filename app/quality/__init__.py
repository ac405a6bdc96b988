"""Quality: measuring the service, never part of it.

``zh-rag eval`` (Recall@k, MRR, nDCG on labelled queries through the backend interface), ``zh-rag bench`` (build
speed, query latency, HTTP throughput and memory against the real server on loopback) and their plots. It may
import everything below it (``app.serving``'s devserver, ``app.backend``, ``app.agent``, ``app.ranking``, the
top-level modules and ``indexing``); nothing in the service imports it (``zh-rag`` names it only by string).
"""
