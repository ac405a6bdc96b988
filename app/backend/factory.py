"""The backend an agent-side front end (MCP) uses: a shared REST service when RAG_SERVICE_URL is set, else
indexes loaded in this process on first use."""
from __future__ import annotations

from app.backend.protocol import Backend
from app.settings import Settings


def create_backend(settings: Settings) -> Backend:
    if settings.service_url:
        from app.backend.remote import RemoteBackend

        return RemoteBackend(settings)
    from app.backend.local import LocalBackend

    return LocalBackend(settings, eager=False)
