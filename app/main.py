"""The FastAPI application: ``uvicorn app.main:app`` serves every index under RAG_INDEX_DIR."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from app.registry import Registry
from app.routes import api, health
from indexing.settings import Settings, get_settings

log = logging.getLogger("app")

DESCRIPTION = """Hybrid (BM25 + dense) retrieval over long Chinese corpora for LLM agents.

Every result carries a citation `[long_context: "<title>", chunk N]` that
`POST /v1/citations/resolve` turns back into the exact chunk text.
"""


def _explain(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field; remove it (see the schema at /docs)"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        registry.start()
        yield
        registry.stop()

    registry = Registry(settings.index_dir, device=settings.device, interval_s=settings.reload_interval_s)
    app = FastAPI(title="zh-rag", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.registry = registry
    app.include_router(health)
    app.include_router(api)
    if settings.origins():
        app.add_middleware(CORSMiddleware, allow_origins=settings.origins(), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        """Refuse oversized bodies before reading them; a streamed body of unknown size cannot be bounded."""
        length = request.headers.get("content-length")
        if length is None and "chunked" in request.headers.get("transfer-encoding", "").lower():
            return JSONResponse({"detail": "send a Content-Length header (chunked bodies are not accepted)"},
                                status_code=411)
        if length is not None and (not length.isdigit() or int(length) > settings.max_body_bytes):
            return JSONResponse({"detail": f"request body over {settings.max_body_bytes} bytes"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": _explain(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the service log has the details"}, status_code=500)

    return app


app = create_app()
