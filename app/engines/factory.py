"""Open the engine a published version's manifest names."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.engines.local import LocalEngine, LocalOptions
from app.engines.protocol import Engine
from indexing import layout


@dataclass(frozen=True)
class EngineOptions:
    """Serve-time knobs of every engine; each takes the ones it understands."""

    local: LocalOptions = LocalOptions()


def open_engine(version_dir: Path, manifest: layout.Manifest, options: EngineOptions = EngineOptions()) -> Engine:
    if manifest.engine == "local":
        return LocalEngine(version_dir, manifest, options.local)
    raise layout.IndexFormatError(f"{version_dir}: unknown engine {manifest.engine!r}; upgrade zh-rag or rebuild")
