"""HTTP endpoints. Handlers only translate: every request goes to the backend interface, every typed error
becomes one status code here."""
from __future__ import annotations

import asyncio
import hmac
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse

from app import schemas
from app.agent import textfmt
from app.backend.protocol import Backend
from app.deadline import Deadline
from app.errors import (
    BackendError,
    CorpusLoading,
    CorpusUnavailable,
    DenseUnavailable,
    InvalidRequest,
    NotFound,
    Overloaded,
    UnknownCorpus,
)
from app.settings import Settings

FormatParam = Query("json", description="'text' returns the plain-text block agents parse (old tool-rag layout).")
STATUS: dict[type[BackendError], int] = {
    UnknownCorpus: 404, NotFound: 404, DenseUnavailable: 409, InvalidRequest: 422,
    CorpusLoading: 503, CorpusUnavailable: 503, Overloaded: 503,
}


def error_response(exc: BackendError) -> JSONResponse:
    """The one translation of a backend error into HTTP."""
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, (CorpusLoading, Overloaded)) else None
    return JSONResponse({"detail": exc.message, "error": type(exc).__name__}, status_code=status, headers=headers)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_backend(request: Request) -> Backend:
    return request.app.state.backend


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
    status: {"model": schemas.ErrorResponse, "description": text}
    for status, text in {
        401: "Missing or wrong API key (only when RAG_API_KEYS is set)",
        404: "Unknown corpus or chunk",
        409: "Dense search on a corpus without vectors",
        413: "Request body too large",
        422: "Invalid request, or a body that is not JSON: the message says what to send instead",
        503: "Corpus still loading or its engine busy (both with Retry-After), unavailable, or search over its "
             "time budget",
    }.items()
}
health = APIRouter(tags=["health"])
api = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], responses=ERRORS)


async def _bounded(settings: Settings, fn, *args):
    """Run blocking backend work in a worker thread, giving up with 503 past the time budget; the work itself
    stops at the same deadline (app/deadline.py), so a request given up on does not go on burning CPU."""
    deadline = Deadline(settings.search_timeout_s)
    try:
        return await asyncio.wait_for(run_in_threadpool(deadline.run, fn, *args), timeout=settings.search_timeout_s)
    except asyncio.TimeoutError:
        raise Overloaded(f"search took longer than {settings.search_timeout_s}s; retry or lower top_k") from None


@health.get("/healthz", summary="Process is alive")
async def healthz() -> dict:  # on the event loop: never waits for a worker thread (a hung engine may hold them)
    return {"status": "ok"}


@health.get("/readyz", response_model=schemas.ReadyResponse, summary="Indexes are loaded",
            responses={503: {"model": schemas.ErrorResponse, "description": "Still loading"}})
def readyz(request: Request, backend: Backend = Depends(get_backend)):
    if not request.app.state.loaded_once():
        return JSONResponse({"detail": "indexes are still loading", "error": "CorpusLoading"}, status_code=503,
                            headers={"Retry-After": "2"})
    return backend.ready()


async def _answer(req, format: str, settings: Settings, backend: Backend, work, render):
    """Search or context within the time budget, as JSON or in the agents' text layout."""
    resp = await _bounded(settings, work, req)
    if format == "text":
        return PlainTextResponse(render(resp, backend.stats(req.corpus).source_path))
    return resp


@api.post("/search", tags=["retrieval"],
          response_model=schemas.SearchResponse, summary="Diverse hybrid search over one corpus",
          responses={200: {"content": {"text/plain": {}}}})
async def search(req: schemas.SearchRequest, format: Literal["json", "text"] = FormatParam,
                 settings: Settings = Depends(get_settings), backend: Backend = Depends(get_backend)):
    return await _answer(req, format, settings, backend, backend.search, textfmt.search_text)


@api.post("/context", tags=["retrieval"], response_model=schemas.ContextResponse,
          summary="Retrieved passages assembled under a token budget", responses={200: {"content": {"text/plain": {}}}})
async def context(req: schemas.ContextRequest, format: Literal["json", "text"] = FormatParam,
                  settings: Settings = Depends(get_settings), backend: Backend = Depends(get_backend)):
    return await _answer(req, format, settings, backend, backend.context, textfmt.context_text)


@api.get("/corpora", tags=["corpora"],
         response_model=schemas.CorporaResponse, summary="Served corpora and their statistics")
def corpora(backend: Backend = Depends(get_backend)) -> schemas.CorporaResponse:
    return backend.corpora()


@api.get("/builds", tags=["builds"],
         response_model=schemas.BuildsResponse, summary="Background builds: queued, stage, progress, ETA")
def builds(backend: Backend = Depends(get_backend)) -> schemas.BuildsResponse:
    return backend.builds()


@api.get("/corpora/{name}", tags=["corpora"], response_model=schemas.CorpusStats, summary="Statistics of one corpus")
def corpus(name: str, backend: Backend = Depends(get_backend)) -> schemas.CorpusStats:
    return backend.stats(name)


def _coordinate():
    """A fresh parameter each time (FastAPI binds a shared one to the first name that uses it)."""
    return Path(..., pattern=r"^[0-9]{1,10}$", description="A plain non-negative integer (no sign, '_' or '.').")


@api.get("/corpora/{name}/chunks/{doc_index}/{chunk_index}", tags=["corpora"], response_model=schemas.ChunkResponse,
         summary="One chunk by its coordinates, with its neighbours and its document's metadata")
def chunk(name: str, doc_index: str = _coordinate(), chunk_index: str = _coordinate(),
          backend: Backend = Depends(get_backend)) -> schemas.ChunkResponse:
    return backend.chunk(name, int(doc_index), int(chunk_index))


@api.post("/citations/resolve", tags=["citations"], response_model=schemas.ResolveResponse,
          summary="Resolve citations in a text to their chunks and check that each chunk supports its claim")
async def resolve(req: schemas.ResolveRequest, settings: Settings = Depends(get_settings),
                  backend: Backend = Depends(get_backend)) -> schemas.ResolveResponse:
    return await _bounded(settings, backend.resolve, req)


@api.post("/read", tags=["retrieval"], response_model=schemas.ReadResponse,
          summary="Read on from a citation: the cited page (slide, rows, part or chunk) and its neighbours, each cited")
async def read(req: schemas.ReadRequest, settings: Settings = Depends(get_settings),
               backend: Backend = Depends(get_backend)) -> schemas.ReadResponse:
    return await _bounded(settings, backend.read, req)
