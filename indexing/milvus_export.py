"""Build an index served by Milvus: a local build in private staging, exported into new collections, published.

The export reads only the on-disk format (``indexing/layout.py``), never the
build's internals: the chunk store, ``chunk_docs.npy``, ``dense.faiss`` vectors,
scripts and title vectors of one published local version go into two new
collections (``indexing/milvus_layout.py``). Then a version directory is
published under the real index dir as for a local build, with
``engine="milvus"``: ``RAG_INDEX_DIR`` alone tells the service what to serve.
A failed or killed build drops (or leaves orphaned, dropped by the next build)
only its own collections; what is served is never touched.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from indexing import layout
from indexing import milvus_layout as ml
from indexing.build import BuildOptions, BuildReport, build_index, build_lock

log = logging.getLogger(__name__)

BATCH_ROWS = 1000
STAGING_PREFIX = ".milvus-staging-"
SMALL_FILES = (layout.SCRIPT_MEANS, layout.PROBE_MEANS)  # what the engine reads locally


def build_milvus_index(corpus_path: Path, opts: BuildOptions, target: ml.MilvusConnection,
                       progress: bool = True) -> BuildReport:
    """Build the local index aside, export it into new Milvus collections, publish a version naming them."""
    layout.check_name(opts.name)
    root = layout.corpus_root(opts.index_dir, opts.name)
    t_start = time.perf_counter()
    with build_lock(opts.index_dir, opts.name):
        for stale in root.glob(STAGING_PREFIX + "*"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))
        try:
            cache = opts.embed_cache_dir or Path(opts.index_dir) / layout.EMBED_CACHE_DIR
            # one complete local version to export: every dense stage at once, none published on the way
            local = build_index(corpus_path, dataclasses.replace(opts, index_dir=staging, embed_cache_dir=cache,
                                                                 dense="full", stage_min_chars=10**15), progress)
            t0 = time.perf_counter()
            index = export_version(local.version_dir, local.manifest, target, progress)
            seconds = dict(local.seconds, milvus_export=time.perf_counter() - t0)
            try:
                final = _publish(opts, local, index, seconds)
            except BaseException:
                _drop(target, [index.chunks, index.documents])
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        try:  # the version is published and served from its own collections; what follows only tidies up
            _swap_aliases(target, index, opts.name)
            _drop_unreferenced(target, opts.index_dir, opts.name)
        except Exception as exc:  # noqa: BLE001
            log.warning("published, but the Milvus aliases or old collections were not updated: %s", exc)
    manifest = layout.read_manifest(final, verify=False)
    return BuildReport(manifest, final, local.embedded, local.reused, seconds, [manifest.dense_stage],
                       [round(time.perf_counter() - t_start, 1)])


def _publish(opts: BuildOptions, local: BuildReport, index: ml.MilvusIndex, seconds: dict[str, float]) -> Path:
    staged = layout.new_version_dir(opts.index_dir, opts.name)
    try:
        for name in SMALL_FILES:
            if (local.version_dir / name).is_file():
                shutil.copyfile(local.version_dir / name, staged / name)
        manifest = dataclasses.replace(
            local.manifest, engine=ml.ENGINE, engine_options=index.to_options(), files={},
            build_seconds={k: round(v, 3) for k, v in seconds.items()})
        layout.write_manifest(staged, manifest)
        return layout.publish(opts.index_dir, opts.name, staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


# --- export --------------------------------------------------------------------------------------


def export_version(version_dir: Path, manifest: layout.Manifest, target: ml.MilvusConnection,
                   progress: bool = False) -> ml.MilvusIndex:
    """Write one local version into two new collections; on failure they are dropped and nothing else changed."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"_{time.monotonic_ns() % 10**6:06d}"
    chunks_name, docs_name = ml.collection_names(manifest.name, stamp)
    chunks_alias, docs_alias = ml.alias_names(manifest.name)
    dense = manifest.embedder is not None
    index = ml.MilvusIndex(
        uri=ml.redact_uri(target.uri, mask=""), db_name=target.db_name, chunks=chunks_name, documents=docs_name, chunks_alias=chunks_alias,
        documents_alias=docs_alias, dense_index=("HNSW" if manifest.ann == "hnsw" else "FLAT") if dense else None,
        dim=manifest.embedder.dim if dense else None, bm25={"k1": manifest.bm25["k1"], "b": manifest.bm25["b"]})
    client = target.client()
    try:
        _create_collections(client, index)
        _write_chunks(client, index, version_dir, manifest, progress)
        _write_documents(client, index, version_dir, manifest)
        for name, rows in ((chunks_name, manifest.chunks), (docs_name, manifest.documents)):
            client.flush(name)  # one flush after all inserts: Milvus Lite keeps BM25 statistics per segment
            client.load_collection(name)
            got = client.get_collection_stats(name)["row_count"]
            if got != rows:
                raise RuntimeError(f"Milvus collection {name} holds {got} rows after the export, expected {rows}")
    except BaseException:
        _drop_with(client, [chunks_name, docs_name])
        raise
    finally:
        client.close()
    return index


def _create_collections(client, index: ml.MilvusIndex) -> None:
    from pymilvus import DataType, Function, FunctionType

    text = dict(datatype=DataType.VARCHAR, max_length=ml.MAX_VARCHAR)
    schema = client.create_schema(auto_id=False, description="zh-rag chunks")
    schema.add_field("id", DataType.INT64, is_primary=True)
    for name in ("doc_index", "chunk_index"):
        schema.add_field(name, DataType.INT64)
    schema.add_field("title", **text)
    schema.add_field("content", **text)
    schema.add_field("url", **text, nullable=True)
    for name in ("start_char", "end_char"):
        schema.add_field(name, DataType.INT64)
    schema.add_field(ml.CONTENT_HASH, DataType.VARCHAR, max_length=64)
    schema.add_field(ml.TEXT, **text, enable_analyzer=True, analyzer_params=index.analyzer)
    schema.add_field(ml.SPARSE, DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=[ml.TEXT],
                                 output_field_names=[ml.SPARSE]))
    params = client.prepare_index_params()
    params.add_index(field_name=ml.SPARSE, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                     params={"bm25_k1": index.bm25["k1"], "bm25_b": index.bm25["b"]})
    if index.dim:
        schema.add_field(ml.VECTOR, DataType.FLOAT_VECTOR, dim=index.dim)
        schema.add_field(ml.SCRIPT, DataType.INT8)
        _add_vector_index(params, ml.VECTOR, index.dense_index)
    client.create_collection(index.chunks, schema=schema, index_params=params)

    schema = client.create_schema(auto_id=False, description="zh-rag documents")
    schema.add_field("doc_index", DataType.INT64, is_primary=True)
    schema.add_field("title", **text)
    schema.add_field("url", **text, nullable=True)
    for name in ("body_chars", "n_chunks", "first_chunk", "dup_group"):
        schema.add_field(name, DataType.INT64)
    schema.add_field("metadata", **text)
    schema.add_field(ml.TITLE_VECTOR, DataType.FLOAT_VECTOR, dim=index.dim or ml.PLACEHOLDER_DIM)
    params = client.prepare_index_params()
    _add_vector_index(params, ml.TITLE_VECTOR, index.dense_index or "FLAT")
    client.create_collection(index.documents, schema=schema, index_params=params)


def _add_vector_index(params, field: str, kind: str) -> None:
    extra = {"M": 32, "efConstruction": 200} if kind == "HNSW" else {}
    params.add_index(field_name=field, index_type=kind, metric_type="IP", params=extra)


def _checked(value: str, what: str) -> str:
    if len(value.encode("utf-8")) > ml.MAX_VARCHAR:
        raise ValueError(f"{what} is over Milvus's {ml.MAX_VARCHAR}-byte text limit; use a smaller --chunk-size")
    return value


def _write_chunks(client, index: ml.MilvusIndex, version_dir: Path, manifest: layout.Manifest,
                  progress: bool) -> None:
    import faiss
    from tqdm import tqdm

    vectors = scripts = None
    if index.dim:
        vectors = faiss.read_index(str(version_dir / layout.DENSE_INDEX), faiss.IO_FLAG_MMAP)
        scripts = np.load(version_dir / layout.CHUNK_SCRIPTS, mmap_mode="r")
    db = layout.connect_readonly(version_dir)
    try:
        cursor = db.execute(f"SELECT {', '.join(ml.CHUNK_FIELDS)}, content_hash FROM chunks ORDER BY id")
        bar = tqdm(total=manifest.chunks, desc="milvus export", unit="chunk", disable=not progress)
        while rows := cursor.fetchmany(BATCH_ROWS):
            start = rows[0][0]
            if rows[-1][0] != start + len(rows) - 1:
                raise layout.IndexFormatError(f"{version_dir}: chunk ids are not consecutive near {start}")
            batch = [{**dict(zip(ml.CHUNK_FIELDS, row[:-1])), ml.CONTENT_HASH: row[-1],
                      ml.TEXT: _checked(layout.passage_text(row[3], row[4]), f"chunk {row[0]}")} for row in rows]
            if vectors is not None:
                block = vectors.reconstruct_n(start, len(rows))
                for i, row in enumerate(batch):
                    row[ml.VECTOR] = block[i].tolist()
                    row[ml.SCRIPT] = int(scripts[start + i])
            client.insert(index.chunks, batch)
            bar.update(len(rows))
        bar.close()
    finally:
        db.close()


def _write_documents(client, index: ml.MilvusIndex, version_dir: Path, manifest: layout.Manifest) -> None:
    titles = np.load(version_dir / layout.TITLE_VECTORS, mmap_mode="r") if index.dim else None
    placeholder = [0.0] * ml.PLACEHOLDER_DIM
    db = layout.connect_readonly(version_dir)
    try:
        cursor = db.execute(f"SELECT {', '.join(ml.DOC_FIELDS)} FROM documents ORDER BY doc_index")
        while rows := cursor.fetchmany(BATCH_ROWS):
            batch = []
            for row in rows:
                doc = dict(zip(ml.DOC_FIELDS, row))
                _checked(doc["metadata"], f"metadata of document {doc['doc_index']}")
                json.loads(doc["metadata"])  # the engine parses it back
                doc[ml.TITLE_VECTOR] = titles[doc["doc_index"]].tolist() if titles is not None else placeholder
                batch.append(doc)
            client.insert(index.documents, batch)
    finally:
        db.close()


# --- aliases and old collections --------------------------------------------------------------------------


def _swap_aliases(target: ml.MilvusConnection, index: ml.MilvusIndex, name: str) -> None:
    """Point the stable aliases at the new build (for other tools; the service follows the manifest)."""
    client = target.client()
    try:
        prefix = ml.collection_prefix(name) + "_"
        pointed = {alias: c for c in client.list_collections() if c.startswith(prefix)
                   for alias in client.list_aliases(collection_name=c)["aliases"]}
        for alias, collection in ((index.chunks_alias, index.chunks), (index.documents_alias, index.documents)):
            if alias not in pointed:
                client.create_alias(collection, alias)
            elif pointed[alias] != collection:
                client.alter_alias(collection, alias)
    finally:
        client.close()


def referenced_collections(index_dir: Path, name: str) -> set[str]:
    """Collections named by the corpus's published and kept versions."""
    names: set[str] = set()
    for version in layout.corpus_root(index_dir, name).glob("v-*"):
        if version.name.endswith(".partial"):
            continue
        try:
            manifest = layout.read_manifest(version, verify=False)
        except layout.IndexFormatError:
            continue
        if manifest.engine == ml.ENGINE:
            index = ml.MilvusIndex.of(manifest)
            names |= {index.chunks, index.documents}
    return names


def _drop_unreferenced(target: ml.MilvusConnection, index_dir: Path, name: str) -> None:
    """Drop this corpus's collections no kept version names: older builds and orphans of killed ones."""
    prefix = ml.collection_prefix(name) + "_"
    keep = referenced_collections(index_dir, name)
    client = target.client()
    try:
        stale = [c for c in client.list_collections() if c.startswith(prefix) and c not in keep]
        _drop_with(client, stale)
    finally:
        client.close()


def _drop(target: ml.MilvusConnection, collections: list[str]) -> None:
    client = target.client()
    try:
        _drop_with(client, collections)
    finally:
        client.close()


def _drop_with(client, collections: list[str]) -> None:
    for name in collections:
        try:
            for alias in client.list_aliases(collection_name=name)["aliases"]:
                client.drop_alias(alias)
            if client.has_collection(name):
                client.drop_collection(name)
                log.info("dropped Milvus collection %s", name)
        except Exception as exc:  # noqa: BLE001 - cleanup is best effort; the next build retries
            log.warning("could not drop Milvus collection %s: %s", name, exc)
