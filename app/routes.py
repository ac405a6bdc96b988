"""HTTP endpoints. Handlers only translate: lookups and errors here, the work in app.service."""
from __future__ import annotations

import asyncio
import hmac
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from app import service, textfmt
from app.registry import CorpusUnavailable, Registry
from app.retrieval import CorpusIndex, DenseUnavailable
from app.schemas import (
    ChunkResponse,
    ContextRequest,
    ContextResponse,
    CorporaResponse,
    CorpusStats,
    ErrorResponse,
    ResolveRequest,
    ResolveResponse,
    SearchRequest,
    SearchResponse,
)
from indexing.settings import Settings

FormatParam = Query("json", description="'text' returns the plain-text block agents parse (old tool-rag layout).")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_registry(request: Request) -> Registry:
    return request.app.state.registry


def require_key(request: Request, settings: Settings = Depends(get_settings)) -> None:
    """Bearer auth when RAG_API_KEYS is set; keys compared in constant time."""
    keys = settings.keys()
    if not keys:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not any(hmac.compare_digest(token.encode(), k.encode()) for k in keys):
        raise HTTPException(401, "missing or invalid API key: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})


ERRORS = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "The body is not parseable JSON",
        401: "Missing or wrong API key (only when RAG_API_KEYS is set)",
        404: "Unknown corpus or chunk",
        409: "Dense search on a corpus without vectors",
        413: "Request body too large",
        422: "Invalid request: the message says what to send instead",
        503: "Corpus unavailable (failed to load) or search over its time budget",
    }.items()
}
health = APIRouter(tags=["health"])
api = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], responses=ERRORS)


def lookup(registry: Registry, name: str) -> CorpusIndex:
    try:
        return registry.get(name)
    except CorpusUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
    except KeyError:
        known = ", ".join(registry.names()) or "none yet: build one with scripts/build_index.py"
        raise HTTPException(404, f"unknown corpus {name!r}; served corpora: {known}") from None


async def _bounded(settings: Settings, fn, *args):
    """Run blocking search work in a worker thread, giving up with 503 past the time budget."""
    try:
        return await asyncio.wait_for(run_in_threadpool(fn, *args), timeout=settings.search_timeout_s)
    except asyncio.TimeoutError:
        raise HTTPException(503, f"search took longer than {settings.search_timeout_s}s; retry or lower top_k") from None
    except DenseUnavailable as exc:
        raise HTTPException(409, str(exc)) from None


async def _answer(req, format: str, settings: Settings, registry: Registry, work, render_text):
    """Search or context: validate, run within the time budget, answer as JSON or the agents' text layout."""
    if len(req.query) > settings.max_query_chars:
        raise HTTPException(422, f"query is {len(req.query)} characters; send at most {settings.max_query_chars}")
    index = lookup(registry, req.corpus)
    resp = await _bounded(settings, work, index, req, settings)
    if format == "text":
        return PlainTextResponse(render_text(resp, index.manifest.source_path))
    return resp


@health.get("/healthz", summary="Process is alive")
def healthz() -> dict:
    return {"status": "ok"}


@health.get("/readyz", summary="Indexes are loaded",
            responses={503: {"model": ErrorResponse, "description": "Still loading"}})
def readyz(registry: Registry = Depends(get_registry)) -> dict:
    if not registry.loaded_once.is_set():
        raise HTTPException(503, "indexes are still loading")
    return {"status": "ready", "corpora": registry.names(), "unavailable": registry.failures()}


@api.post("/search", response_model=SearchResponse, summary="Diverse hybrid search over one corpus",
          responses={200: {"content": {"text/plain": {}}}})
async def search(req: SearchRequest, format: Literal["json", "text"] = FormatParam,
                 settings: Settings = Depends(get_settings), registry: Registry = Depends(get_registry)):
    return await _answer(req, format, settings, registry, service.search, textfmt.search_text)


@api.post("/context", response_model=ContextResponse, summary="Retrieved passages assembled under a token budget",
          responses={200: {"content": {"text/plain": {}}}})
async def context(req: ContextRequest, format: Literal["json", "text"] = FormatParam,
                  settings: Settings = Depends(get_settings), registry: Registry = Depends(get_registry)):
    return await _answer(req, format, settings, registry, service.context, textfmt.context_text)


@api.get("/corpora", response_model=CorporaResponse, summary="Served corpora and their statistics")
def corpora(registry: Registry = Depends(get_registry)) -> CorporaResponse:
    stats = []
    for name in registry.names():
        try:
            stats.append(service.stats(registry.get(name)))
        except (KeyError, CorpusUnavailable):
            continue  # removed between the two calls
    return CorporaResponse(corpora=stats, unavailable=registry.failures())


@api.get("/corpora/{name}", response_model=CorpusStats, summary="Statistics of one corpus")
def corpus(name: str, registry: Registry = Depends(get_registry)) -> CorpusStats:
    return service.stats(lookup(registry, name))


@api.get("/corpora/{name}/chunks/{doc_index}/{chunk_index}", response_model=ChunkResponse,
         summary="One chunk by its coordinates, with its neighbours")
def chunk(name: str, doc_index: int = Path(..., ge=0, le=2**31), chunk_index: int = Path(..., ge=0, le=2**31),
          registry: Registry = Depends(get_registry)) -> ChunkResponse:
    found = service.chunk(lookup(registry, name), doc_index, chunk_index)
    if found is None:
        raise HTTPException(404, f"no chunk {chunk_index} in document {doc_index} of corpus {name!r}")
    return found


@api.post("/citations/resolve", response_model=ResolveResponse, summary="Resolve citations in a text to their chunks")
async def resolve(req: ResolveRequest, settings: Settings = Depends(get_settings),
                  registry: Registry = Depends(get_registry)) -> ResolveResponse:
    return await _bounded(settings, service.resolve, lookup(registry, req.corpus), req.text)
