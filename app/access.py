"""Which corpus files a caller may name: only files under the configured roots, symlinks resolved first."""
from __future__ import annotations

from pathlib import Path

CHUNKS_DB_SUFFIX = ".chunks.db"


class AccessDenied(PermissionError):
    pass


def resolve_corpus_path(json_path: str, roots: list[Path]) -> Path:
    """The real corpus file a ``json_path`` names, or AccessDenied / FileNotFoundError; reads nothing."""
    if not json_path or "\x00" in json_path:
        raise AccessDenied("json_path is empty or malformed; pass the path of the corpus JSON file")
    if not roots:
        raise AccessDenied("no corpus roots are configured; set RAG_ALLOWED_ROOTS to the folders agents may search")
    path = Path(json_path).expanduser()
    if path.name.endswith(CHUNKS_DB_SUFFIX):  # the old tool's cache beside the corpus names the same corpus
        path = path.with_name(path.name[: -len(CHUNKS_DB_SUFFIX)])
    real = path.resolve()
    if not any(real.is_relative_to(root) for root in roots):
        raise AccessDenied(f"{json_path} is outside the allowed corpus roots; ask the operator to add its folder "
                           "to RAG_ALLOWED_ROOTS")
    if not real.is_file():
        raise FileNotFoundError(f"{json_path} does not exist (or is not a file)")
    return real
