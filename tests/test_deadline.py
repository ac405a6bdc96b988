"""A request past its time budget stops working: resolution, search and context check the deadline in their loops."""
import pytest

from app.backend.local import LocalBackend
from app.deadline import Deadline, check
from app.errors import Overloaded
from app.schemas import ContextRequest, ResolveRequest, SearchRequest
from app.settings import Settings


def test_check_does_nothing_outside_a_deadline_and_raises_past_one():
    check()
    with Deadline(60).active():
        check()
    with Deadline(0, "citation check").active(), pytest.raises(Overloaded, match="citation check took longer"):
        check()


def test_work_handed_over_after_its_deadline_is_not_started():
    """A request that waited in the thread pool's queue past its budget does nothing."""
    ran = []
    with pytest.raises(Overloaded):
        Deadline(0).run(ran.append, 1)
    assert ran == [] and Deadline(60).run(lambda x: x + 1, 1) == 2


@pytest.mark.parametrize("call", [
    lambda b: b.search(SearchRequest(corpus="small", query="泡泡战士是哪个公司开发的？")),
    lambda b: b.context(ContextRequest(corpus="small", query="泡泡战士是哪个公司开发的？")),
    lambda b: b.resolve(ResolveRequest(corpus="small", text='由韩国Nexon开发[long_context: "泡泡战士", chunk 0]')),
], ids=["search", "context", "resolve"])
def test_search_context_and_resolution_stop_at_the_deadline(index_dir, call):
    """The same calls answer within a live deadline and stop, with 503's error, past it (the REST routes run
    their work inside one: app/serving/routes.py)."""
    backend = LocalBackend(Settings(index_dir=index_dir), eager=False)
    with Deadline(60).active():
        assert call(backend) is not None
    with Deadline(0).active(), pytest.raises(Overloaded, match="was stopped"):
        call(backend)
