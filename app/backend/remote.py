"""The backend that forwards to a shared REST service, so many agent processes share one copy of the indexes.

HTTP answers are turned back into the typed errors the REST service translated
them from, so a front end on a remote backend behaves as on a local one.
"""
from __future__ import annotations

import httpx

from app import errors, schemas
from app.backend.protocol import CorpusRef, pick_corpus
from app.errors import BackendError, CorpusUnavailable, InvalidRequest
from app.settings import Settings


def error_for(status: int, body: dict) -> BackendError:
    """The typed error the REST service answered with (it names it in ``error``), else one by status."""
    detail = str(body.get("detail", ""))
    kind = getattr(errors, str(body.get("error")), None)
    if isinstance(kind, type) and issubclass(kind, BackendError):
        return kind(detail)
    if status in (400, 413, 422):
        return InvalidRequest(detail)
    return BackendError(f"retrieval service answered {status}: {detail}")


class RemoteBackend:
    def __init__(self, settings: Settings, timeout_s: float = 60):
        headers = {"Authorization": f"Bearer {settings.keys()[0]}"} if settings.keys() else {}
        self.http = httpx.Client(base_url=settings.service_url, headers=headers, timeout=timeout_s)

    def _call(self, method: str, url: str, **kwargs) -> dict:
        try:
            resp = self.http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise CorpusUnavailable(f"the retrieval service at {self.http.base_url} cannot be reached ({exc}); "
                                    "check that it runs") from None
        if resp.status_code >= 400:
            try:
                body = resp.json()
            except ValueError:
                body = {"detail": resp.text[:500]}
            raise error_for(resp.status_code, body if isinstance(body, dict) else {"detail": str(body)})
        return resp.json()

    def ready(self) -> schemas.ReadyResponse:
        return schemas.ReadyResponse(**self._call("GET", "/readyz"))

    def corpora(self) -> schemas.CorporaResponse:
        return schemas.CorporaResponse(**self._call("GET", "/v1/corpora"))

    def find(self, sha256: str, path: str | None = None) -> str | None:
        refs = [CorpusRef(c.name, c.source_sha256, c.source_path, c.built_at) for c in self.corpora().corpora]
        return pick_corpus(refs, sha256, path)

    def stats(self, name: str) -> schemas.CorpusStats:
        return schemas.CorpusStats(**self._call("GET", f"/v1/corpora/{name}"))

    def builds(self) -> schemas.BuildsResponse:
        return schemas.BuildsResponse(**self._call("GET", "/v1/builds"))

    def search(self, req: schemas.SearchRequest) -> schemas.SearchResponse:
        return schemas.SearchResponse(**self._call("POST", "/v1/search", json=req.model_dump()))

    def context(self, req: schemas.ContextRequest) -> schemas.ContextResponse:
        return schemas.ContextResponse(**self._call("POST", "/v1/context", json=req.model_dump()))

    def chunk(self, name: str, doc_index: int, chunk_index: int) -> schemas.ChunkResponse:
        return schemas.ChunkResponse(**self._call("GET", f"/v1/corpora/{name}/chunks/{doc_index}/{chunk_index}"))

    def resolve(self, req: schemas.ResolveRequest) -> schemas.ResolveResponse:
        return schemas.ResolveResponse(**self._call("POST", "/v1/citations/resolve", json=req.model_dump()))

    def read(self, req: schemas.ReadRequest) -> schemas.ReadResponse:
        return schemas.ReadResponse(**self._call("POST", "/v1/read", json=req.model_dump()))
