"""Which corpora are served, and how one broken corpus stays the only one affected."""
import threading

import pytest

from app.errors import CorpusLoading, CorpusUnavailable, UnknownCorpus
from app.ranking.fusion import FusionParams
from app.backend.loaded import LoadedCorpus
from app.backend.registry import Registry
from app.ranking.search import SearchParams, search
from indexing import layout
from indexing.build import build_index
from tests.conftest import options, sample_docs, write_corpus


@pytest.fixture()
def two(tmp_path):
    for name in ("good", "bad"):
        build_index(write_corpus(tmp_path / f"{name}.json", sample_docs(3)), options(tmp_path, name, dense=False),
                    progress=False)
    return tmp_path


def test_bad_bytes_in_one_current_leave_the_others_serving_and_heal_by_themselves(two):
    current = two / "bad" / layout.CURRENT
    good_pointer = current.read_bytes()
    current.write_bytes(b"\xff\xfe garbage")
    registry = Registry(two)
    registry.refresh()
    assert registry.get("good").name == "good"
    with pytest.raises(CorpusUnavailable, match="not a version name"):
        registry.get("bad")
    assert "bad" in registry.failures()
    current.write_bytes(good_pointer)
    registry.refresh()
    assert registry.get("bad").name == "bad" and not registry.failures()


def test_a_deleted_current_reads_as_no_published_version(two):
    (two / "bad" / layout.CURRENT).unlink()
    registry = Registry(two)
    registry.refresh()
    with pytest.raises(CorpusUnavailable, match="no published version"):
        registry.get("bad")
    with pytest.raises(UnknownCorpus, match="served corpora: good"):
        registry.get("never-built")


def test_garbage_in_current_while_serving_keeps_the_old_version_and_says_so(two):
    registry = Registry(two)
    registry.refresh()
    served = registry.get("bad").version
    (two / "bad" / layout.CURRENT).write_text("v-does-not-exist")
    registry.refresh()
    assert registry.get("bad").version == served
    assert "does not exist" in registry.warnings()["bad"] and "bad" not in registry.failures()


def test_an_index_on_disk_but_not_loaded_yet_is_loading_not_unknown(two):
    registry = Registry(two)  # the watcher has not run yet
    with pytest.raises(CorpusLoading, match="retry"):
        registry.get("good")
    lazy = Registry(two, eager=False)  # the MCP server loads on first use instead
    assert lazy.get("good").name == "good" and lazy.names() == ["good"]


def test_a_pruned_version_keeps_serving_the_requests_that_hold_it(two):
    """Two publishes within one reload interval delete the loaded version's files; its readers must not fail."""
    corpus = two / "good.json"
    held = LoadedCorpus.open(layout.published_version(two, "good"))
    for _ in range(2):
        build_index(corpus, options(two, "good", dense=False), progress=False)
    assert not (two / "good" / held.version).exists()
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(
        search(held, SearchParams("泡泡战士", "bm25"), FusionParams(), 100).hits)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 4 and all(a and a[0].chunk.title == "泡泡战士" for a in answers)


def test_version_names_sort_in_creation_order_within_one_second(tmp_path):
    """Pruning keeps the newest versions by name: names made in one second must still sort by creation."""
    made = [layout.new_version_dir(tmp_path, "c").name for _ in range(50)]
    assert sorted(made) == made
