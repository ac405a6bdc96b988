"""Open the engine a published version's manifest names."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.engines.local import LocalEngine, LocalOptions
from app.engines.milvus_options import MilvusOptions
from app.engines.protocol import Engine
from indexing import layout


@dataclass(frozen=True)
class EngineOptions:
    """Serve-time knobs of every engine; each takes the ones it understands."""

    local: LocalOptions = LocalOptions()
    milvus: MilvusOptions = field(default_factory=MilvusOptions)


def open_engine(version_dir: Path, manifest: layout.Manifest, options: EngineOptions = EngineOptions()) -> Engine:
    if manifest.engine == "local":
        return LocalEngine(version_dir, manifest, options.local)
    if manifest.engine == "milvus":
        try:  # an optional dependency (pip install 'zh-rag[milvus]'): only Milvus-served corpora need it
            from app.engines.milvus import MilvusEngine
        except ImportError as exc:
            raise layout.IndexFormatError(f"{version_dir}: served by Milvus, which needs pymilvus "
                                          f"(pip install 'zh-rag[milvus]'): {exc}") from None
        return MilvusEngine(version_dir, manifest, options.milvus)
    raise layout.IndexFormatError(f"{version_dir}: unknown engine {manifest.engine!r}; upgrade zh-rag or rebuild")
