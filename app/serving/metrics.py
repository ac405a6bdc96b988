"""Prometheus metrics of the REST service: ``add_metrics(app, backend, settings)`` is all the app factory calls.

Every app gets its own ``CollectorRegistry`` (nothing is registered in the
library's global one, so importing this module changes no global state and
tests can create several apps). What is exported:

    requests        zhrag_http_requests_total{endpoint, method, mode, status}   counter
                    zhrag_http_request_duration_seconds{endpoint, mode, status} histogram
                    endpoint = the route template (/v1/corpora/{name}), never the raw path; mode = the
                    request's mode for /v1/search and /v1/context (hybrid when not sent), else ""; status = 2xx/4xx/5xx
    answers         zhrag_answers_total{corpus, endpoint}, zhrag_low_confidence_answers_total{corpus, endpoint}
    query vectors   zhrag_query_cache_hits_total / _misses_total / zhrag_query_cache_entries{corpus, version}
    indexes         zhrag_corpus_info{corpus, version, dense_stage, dense_target, ann, engine, embedder} = 1,
                    zhrag_corpus_chunks / _documents / _dense_coverage_ratio / _load_seconds{corpus, version},
                    zhrag_corpus_unavailable{corpus}, zhrag_corpus_serving_previous_version{corpus},
                    zhrag_index_loads_total{corpus}, zhrag_index_load_failures_total{corpus}
    build queue     zhrag_build_state{corpus, state} (1 for the current state, 0 for the others),
                    zhrag_build_progress_ratio{corpus, stage}, zhrag_build_eta_seconds{corpus}
    process         process_* and python_* (prometheus-client's process and platform collectors)

Counts of requests and answers are kept as they happen; everything else is read
when Prometheus scrapes (custom collectors), so it is never stale and costs
nothing between scrapes. No metric carries corpus text, queries or error
messages: labels are corpus names, versions, route templates and fixed values.
"""
from __future__ import annotations

import json
import logging
import re
import time
import typing
from typing import Any, Iterable

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import start_http_server
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.routing import compile_path

from app.backend.local import LocalBackend
from app.serving.routes import require_key
from app.schemas import ContextRequest, ContextResponse, SearchRequest, SearchResponse
from app.settings import Settings

log = logging.getLogger(__name__)

# Routes whose body names a mode; the values and the default come from the request schema.
MODE_ROUTES = {"/v1/search", "/v1/context"}
MODES = frozenset(typing.get_args(SearchRequest.model_fields["mode"].annotation))
DEFAULT_MODE = SearchRequest.model_fields["mode"].default
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds: a cached BM25 query answers in ~1 ms, a new hybrid one in 15-40 ms, the search budget is 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BUILD_STATES = ("queued", "running", "interrupted", "failed")


class Metrics:
    """The registry of one app and the counters its requests move."""

    def __init__(self, backend: LocalBackend, settings: Settings):
        self.settings = settings
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("zhrag_http_requests", "HTTP requests answered, by route template, request mode "
                                "and status class.", ["endpoint", "method", "mode", "status"], registry=self.registry)
        self.latency = Histogram("zhrag_http_request_duration_seconds", "Time from request to the last byte of "
                                 "the response, by route template, request mode and status class.",
                                 ["endpoint", "mode", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.answers = Counter("zhrag_answers", "Search and context answers, per corpus.", ["corpus", "endpoint"],
                               registry=self.registry)
        self.low_confidence = Counter("zhrag_low_confidence_answers", "Answers flagged low_confidence (the best "
                                      "match is probably not an answer), per corpus.", ["corpus", "endpoint"],
                                      registry=self.registry)
        self.registry.register(IndexCollector(backend))
        self.registry.register(QueryCacheCollector(backend))
        self.registry.register(BuildQueueCollector(backend))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._server = None

    def observe(self, endpoint: str, method: str, mode: str, status: int, seconds: float) -> None:
        status_class = f"{status // 100}xx"
        self.requests.labels(endpoint, method, mode, status_class).inc()
        self.latency.labels(endpoint, mode, status_class).observe(seconds)

    def count_answer(self, endpoint: str, answer: SearchResponse | ContextResponse) -> None:
        self.answers.labels(answer.corpus, endpoint).inc()
        if answer.low_confidence:
            self.low_confidence.labels(answer.corpus, endpoint).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # --- the separate port (RAG_METRICS_PORT) ---------------------------------------------------

    def start(self) -> None:
        """Serve /metrics on RAG_METRICS_PORT if set; called at startup, never at import."""
        port = self.settings.metrics_port
        if port is None or self.settings.metrics == "off":
            return
        try:
            self._server, _ = start_http_server(port, self.settings.metrics_host, registry=self.registry)
        except OSError as exc:  # another worker of this service holds it: that worker answers for itself
            log.warning("metrics port %s:%d not served by this worker (%s)", self.settings.metrics_host, port, exc)
            return
        log.info("metrics on http://%s:%d/metrics", self.settings.metrics_host, port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def add_metrics(app: FastAPI, backend: LocalBackend, settings: Settings) -> Metrics | None:
    """Instrument ``app`` as RAG_METRICS / RAG_METRICS_PORT say; call it after the other middleware is added.

    Returns the app's ``Metrics`` (its ``start``/``stop`` belong in the lifespan), or None when metrics are off.
    """
    if settings.metrics == "off":
        return None
    metrics = Metrics(backend, settings)
    app.state.metrics = metrics
    app.state.backend = CountingBackend(app.state.backend, metrics)
    app.add_middleware(RequestMetrics, metrics=metrics)
    if settings.metrics_port is None:
        auth = [Depends(require_key)] if settings.metrics == "auth" else []

        def scrape() -> Response:  # a plain def: FastAPI runs it in a worker thread (collectors read files)
            return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

        app.add_api_route("/metrics", scrape, methods=["GET"], dependencies=auth, include_in_schema=False)
    return metrics


class RequestMetrics:
    """Counts and times every HTTP request. Plain ASGI, like ``BodyLimit`` (``@app.middleware`` costs ~1 ms).

    The route template is read from the scope after routing; the mode from the request body as the app reads
    it (the body's messages are kept, not copied, and parsed only for the routes that take a mode).
    """

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics
        self._paths: list[tuple[str, re.Pattern]] | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped to the server's error handler
        body: list[bytes] = []

        async def receive_kept():
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
            return message

        async def send_seen(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive_kept, send_seen)
        finally:
            endpoint = self.route_template(scope)
            mode = request_mode(b"".join(body)) if endpoint in MODE_ROUTES else ""
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.observe(endpoint, method, mode, status, time.perf_counter() - started)

    def route_template(self, scope) -> str:
        """The path template of the route that answered; a request refused before routing (413, 411 by
        ``BodyLimit``) is matched against the API's documented paths; anything else is "unmatched"."""
        route = scope.get("route")
        if route is not None and getattr(route, "path", None):
            return route.path
        if self._paths is None and "app" in scope:
            self._paths = [(t, compile_path(t)[0]) for t in scope["app"].openapi()["paths"]]
        return next((t for t, regex in self._paths or () if regex.match(scope["path"])), "unmatched")


def request_mode(body: bytes) -> str:
    """The mode a search or context request asked for: a known mode, the default when absent, else "invalid"."""
    if not body:
        return ""  # refused before its body was read
    try:
        data = json.loads(body)
    except ValueError:
        return "invalid"
    mode = data.get("mode", DEFAULT_MODE) if isinstance(data, dict) else None
    return mode if mode in MODES else "invalid"


class CountingBackend:
    """The backend with its answers counted per corpus; everything else passes through unchanged."""

    def __init__(self, inner: Any, metrics: Metrics):
        self._inner = inner
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def search(self, req: SearchRequest) -> SearchResponse:
        answer = self._inner.search(req)
        self._metrics.count_answer("/v1/search", answer)
        return answer

    def context(self, req: ContextRequest) -> ContextResponse:
        answer = self._inner.context(req)
        self._metrics.count_answer("/v1/context", answer)
        return answer


# --- read at scrape time ----------------------------------------------------------------------------


class IndexCollector(Collector):
    """Served corpora (version, size, dense coverage), corpora that cannot be served, loads and load failures."""

    def __init__(self, backend: LocalBackend):
        self.registry = backend.registry

    def collect(self) -> Iterable:
        keys = ["corpus", "version"]
        info = GaugeMetricFamily("zhrag_corpus_info", "A served corpus version (value 1) and how it was built.",
                                 labels=keys + ["dense_stage", "dense_target", "ann", "engine", "embedder"])
        chunks = GaugeMetricFamily("zhrag_corpus_chunks", "Chunks of the served version.", labels=keys)
        documents = GaugeMetricFamily("zhrag_corpus_documents", "Documents of the served version.", labels=keys)
        coverage = GaugeMetricFamily("zhrag_corpus_dense_coverage_ratio", "Share of chunks with their own vector "
                                     "(manifest dense_coverage).", labels=keys)
        load = GaugeMetricFamily("zhrag_corpus_load_seconds", "Time the served version took to load (checksums "
                                 "verified).", labels=keys)
        for corpus in self.registry.loaded():
            m = corpus.manifest
            at = [corpus.name, corpus.version]
            info.add_metric(at + [m.dense_stage, m.dense_target, m.ann or "", m.engine,
                                  m.embedder.id if m.embedder else ""], 1)
            chunks.add_metric(at, m.chunks)
            documents.add_metric(at, m.documents)
            coverage.add_metric(at, m.dense_coverage)
            load.add_metric(at, corpus.load_seconds)
        yield from (info, chunks, documents, coverage, load)

        unavailable = GaugeMetricFamily("zhrag_corpus_unavailable", "1 for a corpus on disk that cannot be served "
                                        "(/readyz says why).", labels=["corpus"])
        for name in self.registry.failures():
            unavailable.add_metric([name], 1)
        previous = GaugeMetricFamily("zhrag_corpus_serving_previous_version", "1 for a corpus whose newest "
                                     "version failed to load, so the one before it serves.", labels=["corpus"])
        for name in self.registry.warnings():
            previous.add_metric([name], 1)
        yield from (unavailable, previous)

        loads = CounterMetricFamily("zhrag_index_loads", "Index versions loaded since start (a hot reload "
                                    "counts one).", labels=["corpus"])
        failures = CounterMetricFamily("zhrag_index_load_failures", "Distinct load failures since start (a "
                                       "failure that persists across polls counts once).", labels=["corpus"])
        counts = self.registry.load_counts()
        for name, n in sorted(counts.loads.items()):
            loads.add_metric([name], n)
        for name, n in sorted(counts.failures.items()):
            failures.add_metric([name], n)
        yield from (loads, failures)


class QueryCacheCollector(Collector):
    """The LRU of query vectors of each served version (``functools.lru_cache.cache_info()``)."""

    def __init__(self, backend: LocalBackend):
        self.registry = backend.registry

    def collect(self) -> Iterable:
        keys = ["corpus", "version"]
        hits = CounterMetricFamily("zhrag_query_cache_hits", "Query vectors served from the cache (per loaded "
                                   "version: a new version starts from zero).", labels=keys)
        misses = CounterMetricFamily("zhrag_query_cache_misses", "Query vectors computed (the query embedding "
                                     "was paid).", labels=keys)
        entries = GaugeMetricFamily("zhrag_query_cache_entries", "Query vectors held in the cache.", labels=keys)
        for corpus in self.registry.loaded():
            if corpus.encoder is None:  # BM25-only: no query vectors
                continue
            info = corpus.encoder.vector.cache_info()
            at = [corpus.name, corpus.version]
            hits.add_metric(at, info.hits)
            misses.add_metric(at, info.misses)
            entries.add_metric(at, info.currsize)
        yield from (hits, misses, entries)


class BuildQueueCollector(Collector):
    """Background builds of the index directory (``indexing.queue``): state, stage, share done, ETA."""

    def __init__(self, backend: LocalBackend):
        self.queue = backend.queue

    def collect(self) -> Iterable:
        state = GaugeMetricFamily("zhrag_build_state", "Background build per corpus: 1 for its current state.",
                                  labels=["corpus", "state"])
        progress = GaugeMetricFamily("zhrag_build_progress_ratio", "Share of the embedding to the build's target "
                                     "done; stage = the dense stage being embedded.", labels=["corpus", "stage"])
        eta = GaugeMetricFamily("zhrag_build_eta_seconds", "Estimated seconds to the build's target.",
                                labels=["corpus"])
        for s in self.queue.statuses():
            for value in BUILD_STATES:
                state.add_metric([s.name, value], float(s.state == value))
            progress.add_metric([s.name, s.stage or ""], s.share_done)
            if s.eta_s is not None:
                eta.add_metric([s.name], s.eta_s)
        yield from (state, progress, eta)
