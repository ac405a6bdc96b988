"""The local engine (bm25s + FAISS) under the search: vector index choice, query-vector cache, script centering."""
import shutil

from app.engines.local import LocalOptions
from app.engines.factory import EngineOptions
from app.ranking.fusion import FusionParams
from app.backend.loaded import LoadedCorpus, ServeOptions
from app.ranking.search import SearchParams, search
from indexing import layout
from indexing.build import build_index
from tests.conftest import options

QUERIES = ["《战国无双3》是由哪两个公司合作开发的？", "Which companies developed the game?", "米尔顿·弗里德曼"]


def test_auto_uses_hnsw_only_from_the_configured_size(tmp_path):
    opts = options(tmp_path, "c", hnsw_min_chunks=1000)
    assert (opts.vector_index(999), opts.vector_index(1000)) == ("flat", "hnsw")
    assert options(tmp_path, "c", ann="flat").vector_index(10**7) == "flat"


def test_an_hnsw_index_returns_what_exact_search_returns(tmp_path, index_dir, corpora_dir):
    shutil.copytree(index_dir / layout.EMBED_CACHE_DIR, tmp_path / layout.EMBED_CACHE_DIR)
    report = build_index(corpora_dir / "small.json", options(tmp_path, "small", ann="hnsw"), progress=False)
    assert report.embedded == 0 and report.manifest.ann == "hnsw"
    exact = LoadedCorpus.open(layout.published_version(index_dir, "small"))
    narrow = ServeOptions(engine=EngineOptions(local=LocalOptions(ef_search=16)))
    approximate = LoadedCorpus.open(report.version_dir, narrow)
    assert exact.manifest.ann == "flat"
    for query in QUERIES:
        for mode in ("dense", "hybrid"):
            a, b = (search(ix, SearchParams(query, mode), FusionParams(), 100).hits for ix in (exact, approximate))
            assert [h.chunk.id for h in a] == [h.chunk.id for h in b]


def test_a_repeated_query_reuses_its_vector(index_dir):
    version = layout.published_version(index_dir, "small")
    index = LoadedCorpus.open(version, ServeOptions(query_cache=8))
    first = search(index, SearchParams(QUERIES[0]), FusionParams(), 100)
    again = search(index, SearchParams(QUERIES[0]), FusionParams(), 100)
    assert index.encoder.vector.cache_info().hits == 1
    assert [(h.chunk.id, h.score) for h in first.hits] == [(h.chunk.id, h.score) for h in again.hits]
    uncached = LoadedCorpus.open(version, ServeOptions(query_cache=0))
    search(uncached, SearchParams(QUERIES[0]), FusionParams(), 100)
    assert uncached.encoder.vector.cache_info().hits == 0


def test_script_centering_scores_each_chunk_against_its_own_scripts_mean(index_dir):
    index = LoadedCorpus.open(layout.published_version(index_dir, "mixed"))
    engine = index.engine
    query = "How does retrieval-augmented generation reduce hallucination?"
    hits = search(index, SearchParams(query, "dense", top_k=10, diverse=False), FusionParams(), 100).hits
    qvec = index.encoder.vector(query, FusionParams().query_centering)
    scripts = {int(engine.chunk_scripts[h.chunk.id]) for h in hits}
    assert scripts == {0, 1}  # the English page and Chinese pages are both among the hits
    for h in hits:
        raw = float(engine.vectors.reconstruct(h.chunk.id) @ qvec)
        assert abs(h.dense - (raw - float(engine.script_means[engine.chunk_scripts[h.chunk.id]] @ qvec))) < 1e-5
    plain = search(index, SearchParams(query, "dense", top_k=10, diverse=False), FusionParams(script_centering=0),
                   100)
    assert {h.chunk.id: round(h.dense, 5) for h in plain.hits} != {h.chunk.id: round(h.dense, 5) for h in hits}


def test_a_query_nothing_matches_gives_no_hits_rather_than_an_error(index_dir):
    index = LoadedCorpus.open(layout.published_version(index_dir, "sample"))
    outcome = search(index, SearchParams("zzqxj", "bm25"), FusionParams(), 100)
    assert outcome.hits == [] and outcome.confidence.value == 0
