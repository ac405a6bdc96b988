"""Dense vectors in stages: what each stage serves, and that a chunk without its own vector is never scored 0."""
import numpy as np

from app.ranking.fusion import FusionParams
from app.backend.loaded import LoadedCorpus
from app.ranking.search import SearchParams, search
from indexing import layout
from indexing.build import build_index
from tests.conftest import FIXTURES, options

QUESTION = "How long is the Yangtze River?"  # answered by 长江流域的水文特征 in the mixed fixture


def _dense_hits(corpus, query=QUESTION):
    return search(corpus, SearchParams(query, "dense", top_k=10, diverse=False), FusionParams(script_centering=0),
                  100).hits


def test_a_titles_build_scores_every_chunk_by_its_documents_title(tmp_path):
    report = build_index(FIXTURES / "mixed.json", options(tmp_path, "m", dense_stage="titles", chunk_size=120,
                                                          chunk_overlap=20), progress=False)
    m = report.manifest
    assert (m.dense_stage, m.dense_target, m.dense_coverage) == ("titles", "titles", 0.0)
    assert report.embedded == m.documents  # titles only: ~1% of the text
    corpus = LoadedCorpus.open(report.version_dir)
    hits = _dense_hits(corpus)
    assert hits[0].chunk.title == "长江流域的水文特征"
    qvec = corpus.encoder.vector(QUESTION, FusionParams().query_centering)
    for h in hits:
        title = float(corpus.engine.title_vectors[h.chunk.doc_index] @ qvec)
        assert abs(h.dense - title) < 1e-5 and h.dense != 0


def test_a_leads_build_scores_other_chunks_by_their_documents_first_chunk(tmp_path):
    report = build_index(FIXTURES / "mixed.json", options(tmp_path, "m", dense_stage="leads", chunk_size=120,
                                                          chunk_overlap=20), progress=False)
    assert report.manifest.dense_stage == "leads" and 0 < report.manifest.dense_coverage < 1
    corpus = LoadedCorpus.open(report.version_dir)
    engine = corpus.engine
    query = "长江 三峡 防洪 流量"  # keyword matches reach chunks beyond each document's first
    qvec = corpus.encoder.vector(query, FusionParams().query_centering)
    hits = search(corpus, SearchParams(query, "hybrid", top_k=20, diverse=False), FusionParams(script_centering=0),
                  100).hits
    later = [h for h in hits if h.chunk.chunk_index > 0]
    assert later  # chunks without their own vector are still candidates, with their lead's score
    for h in later:
        lead = engine.documents()[h.chunk.doc_index].first_chunk
        assert not engine.covered[h.chunk.id] and engine.covered[lead]
        assert abs(h.dense - float(engine.vectors.reconstruct(lead) @ qvec)) < 1e-5


def test_stages_are_published_on_the_way_and_a_later_build_reuses_their_vectors(tmp_path):
    small = {"chunk_size": 120, "chunk_overlap": 20, "stage_min_chars": 0}
    titles = build_index(FIXTURES / "mixed.json", options(tmp_path, "m", dense_stage="titles", **small),
                         progress=False)
    full = build_index(FIXTURES / "mixed.json", options(tmp_path, "m", **small), progress=False)
    assert full.published == ["leads", "full"]  # the titles stage it already serves is not published again
    assert full.reused == titles.embedded and full.manifest.dense_coverage == 1.0
    assert not (layout.published_version(tmp_path, "m") / layout.DENSE_CHUNKS).exists()
    fresh = build_index(FIXTURES / "mixed.json", options(tmp_path / "fresh", "m", **small), progress=False)
    assert fresh.published == ["none", "titles", "leads", "full"]
    a, b = (_dense_hits(LoadedCorpus.open(r.version_dir)) for r in (full, fresh))
    assert [(h.chunk.id, round(h.score, 5)) for h in a] == [(h.chunk.id, round(h.score, 5)) for h in b]
    capped = build_index(FIXTURES / "mixed.json", options(tmp_path, "capped", dense_stage="titles", **small),
                         progress=False)  # the cache holds every chunk's vector now; a titles build serves titles
    assert (capped.manifest.dense_stage, capped.manifest.dense_coverage, capped.embedded) == ("titles", 0.0, 0)


def test_a_no_dense_build_refuses_to_drop_published_vectors_unless_forced(tmp_path):
    build_index(FIXTURES / "mixed.json", options(tmp_path, "m", dense_stage="titles"), progress=False)
    try:
        build_index(FIXTURES / "mixed.json", options(tmp_path, "m", dense=False), progress=False)
        raise AssertionError("a BM25-only build replaced a dense index")
    except ValueError as exc:
        assert "would drop them" in str(exc) and "--force" in str(exc)
    assert layout.read_manifest(layout.published_version(tmp_path, "m")).dense_stage == "titles"
    forced = build_index(FIXTURES / "mixed.json", options(tmp_path, "m", dense=False, force=True), progress=False)
    assert forced.manifest.dense_stage == "none" and np.isclose(forced.manifest.dense_coverage, 0)
