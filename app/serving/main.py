"""The FastAPI application: ``uvicorn app.serving.main:app`` serves every index under RAG_INDEX_DIR."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from app.backend.local import LocalBackend
from app.errors import BackendError
from app.serving.metrics import add_metrics
from app.serving.pages import add_pages
from app.serving.routes import api, error_response, health
from app.schemas import explain_errors
from app.settings import Settings, get_settings

log = logging.getLogger("app")

DESCRIPTION = """Hybrid (BM25 + dense) retrieval over long Chinese corpora for LLM agents.

Every result carries a citation `[long_context: "<title>", chunk N]` that
`POST /v1/citations/resolve` turns back into the exact chunk text.
"""


class BodyLimit:
    """Refuse oversized bodies before reading them; a streamed body of unknown size cannot be bounded.

    Plain ASGI rather than ``@app.middleware("http")``: that wrapper costs about a millisecond per request.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            refusal = None
            if length is None and b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                refusal = 411, "send a Content-Length header (chunked bodies are not accepted)"
            elif length is not None and (not length.isdigit() or int(length) > self.max_bytes):
                refusal = 413, f"request body over {self.max_bytes} bytes"
            if refusal:
                await JSONResponse({"detail": refusal[1]}, status_code=refusal[0])(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        backend.start()
        if metrics:
            metrics.start()
        yield
        if metrics:
            metrics.stop()
        backend.stop()

    backend = LocalBackend(settings)
    app = FastAPI(title="zh-rag", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # served offline by add_pages
    app.state.settings = settings
    app.state.backend = backend
    app.state.loaded_once = backend.registry.loaded_once.is_set
    app.include_router(health)
    app.include_router(api)
    add_pages(app)
    if settings.origins():
        app.add_middleware(CORSMiddleware, allow_origins=settings.origins(), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    metrics = add_metrics(app, backend, settings)  # outermost, so it counts what BodyLimit refuses too

    @app.exception_handler(BackendError)
    async def backend_error(request: Request, exc: BackendError):
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": explain_errors(exc.errors()), "error": "InvalidRequest"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400:  # a body FastAPI cannot even decode: the same 422 as malformed JSON
            return JSONResponse({"detail": "the body is not JSON: send a UTF-8 JSON object with "
                                           "content-type application/json", "error": "InvalidRequest"},
                                status_code=422)
        return await http_exception_handler(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the service log has the details"}, status_code=500)

    return app


app = create_app()
