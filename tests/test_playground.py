"""The playground at / and the API docs in a real browser (headless Debian Chromium) against the real service.

Each test opens a fresh browser context on the session's server; every request a page makes is recorded, and
any request to a host other than 127.0.0.1 is blocked and fails the test (the pages must work offline).
"""
from __future__ import annotations

import shutil
from urllib.parse import urlsplit

import pytest

from app.serving.pages import EMPTY_IMAGE
from tests.conftest import queued_dense_build, sample_docs, start_server

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[dev]'")
expect = sync_api.expect
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium fonts-noto-cjk; .ci/run does this)",
                allow_module_level=True)

# Never `playwright install`: Debian's chromium, with everything that would phone home turned off.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
QUESTION = "泡泡战士是哪个公司开发的？"
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (a fresh profile: Playwright gives each launch a new user-data-dir)."""
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Tab:
    """A browser tab on one server: records every request, blocks and remembers off-machine ones, collects JS errors."""

    def __init__(self, browser, base_url: str):
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.requests, self.fetched, self.external, self.errors, self.csp = [], [], [], [], []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("request", lambda request: self.requests.append(request))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda msg: "Content Security Policy" in msg.text and self.csp.append(msg.text))

    def _route(self, route):  # sees what would go on the network (not what the browser's CSP blocked first)
        self.fetched.append(route.request.url)
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def open(self, path: str = "/"):
        self.page.goto(self.base_url + path)
        return self.page

    def close(self):
        self.context.close()


@pytest.fixture
def tab(browser, server):
    t = Tab(browser, server.url)
    yield t
    t.close()
    assert not t.external, f"the page requested URLs outside the service: {t.external}"
    assert not t.errors, f"JavaScript errors on the page: {t.errors}"
    assert not t.csp, f"the page broke its Content-Security-Policy: {t.csp}"


def open_playground(tab: Tab, corpus: str = "small"):
    page = tab.open("/")
    page.wait_for_selector(f"#corpus option[value='{corpus}']", state="attached")
    page.select_option("#corpus", corpus)
    return page


def search(page, question: str, **options):
    for field, value in options.items():
        if field == "mode":
            page.check(f"input[name=mode][value={value}]")
        else:
            page.fill(f"#{field}", str(value))
    page.fill("#question", question)
    page.press("#question", "Enter")  # Enter in the question field searches
    page.wait_for_selector("#results .result, #search-error:not([hidden])")
    return page.locator("#results .result")


def api_search(server, question: str, corpus: str = "small", **body):
    return server.client.post("/v1/search", json={"corpus": corpus, "query": question, **body}).json()


def test_search_shows_ranked_results_with_highlighted_terms_and_evidence_bars(tab, server):
    """The core loop: pick a corpus (its stats show), ask, see what matched, why it ranked, and how sure the service is."""
    page = open_playground(tab)
    assert {"small", "sample", "mixed"} <= set(page.locator("#corpus option").all_inner_texts())
    stats = page.inner_text("#corpus-stats")
    assert "10 documents" in stats and "16 chunks" in stats and "hybrid" in stats
    assert "Semantic index complete." in stats

    results = search(page, QUESTION, top_k=5)
    expected = api_search(server, QUESTION, top_k=5)
    assert results.count() == len(expected["results"]) == 5
    top = results.first
    assert top.locator(".title").inner_text() == "泡泡战士"
    assert top.locator(".citation").inner_text() == expected["results"][0]["citation"]
    marks = top.locator(".content mark").all_inner_texts()
    assert any("开发" in m for m in marks), marks  # a query term found in the chunk text is highlighted
    assert top.locator(".content").inner_text() == expected["results"][0]["content"]
    best = expected["results"][0]["highlights"][0]
    offset = expected["results"][0]["start_char"]
    want_best = expected["results"][0]["content"][best["start_char"] - offset:best["end_char"] - offset]
    assert top.locator(".content .best[data-rank='1']").inner_text() == want_best  # its best sentence is marked

    for rank, (result, want) in enumerate(zip(results.all(), expected["results"]), start=1):
        for kind in ("bm25", "dense", "fused"):
            bar = result.locator(f".bar[data-kind={kind}]")
            assert bar.locator(".value").inner_text() == f"{want['scores'][kind]:.3f}".replace("-0.000", "0.000")
            width = bar.locator(".fill").evaluate("el => parseFloat(el.style.width)")
            assert 0 < width <= 100 if want["scores"][kind] > 0 else width == 0
    assert top.locator(".bar[data-kind=fused] .fill").evaluate("el => parseFloat(el.style.width)") == 100  # best
    assert page.inner_text("#search-summary .confidence") == f"{expected['confidence']:.2f}"
    summary = page.inner_text("#search-summary")  # the coverage as the service's sentence, not a raw dict
    assert "Semantic index complete." in summary and "→" not in summary and "eta_s" not in summary
    assert page.locator(".low-confidence").count() == 0


def test_a_weak_match_shows_the_low_confidence_warning(tab, server):
    """A question the corpus cannot answer is flagged on the page, as the API flags it."""
    question = "量子色动力学的渐近自由"
    assert api_search(server, question)["low_confidence"]
    page = open_playground(tab)
    search(page, question)
    assert "Low confidence" in page.inner_text(".low-confidence")


def test_bm25_only_mode_shows_no_dense_evidence(tab, server):
    """Mode bm25: the dense score is absent (null) and drawn as such, not as a zero-length bar that looks measured."""
    page = open_playground(tab)
    results = search(page, "泡泡战士", mode="bm25", top_k=3)
    dense = results.first.locator(".bar[data-kind=dense]")
    assert "missing" in dense.get_attribute("class") and dense.locator(".value").inner_text() == "n/a"
    assert "mode bm25" in page.inner_text("#search-summary")


def test_clicking_a_result_opens_its_chunk_and_steps_to_the_neighbour(tab, server):
    """Drill-down: a result opens its whole chunk with the document's metadata; next/previous walk the document."""
    page = open_playground(tab)
    results = search(page, "松平康忠", top_k=3)
    first = api_search(server, "松平康忠", top_k=3)["results"][0]
    assert first["title"] == "松平康忠"  # a document of 3 chunks
    results.first.locator(".content").click()
    dialog = page.locator("#chunk-dialog")
    dialog.wait_for(state="visible")
    expect(dialog.locator("#chunk-title")).to_have_text("松平康忠")
    assert dialog.locator("#chunk-content").inner_text() == first["content"]
    assert f"chunk {first['chunk_index']} of chunks 0–2" in dialog.locator("#chunk-position").inner_text()
    assert first["url"] in dialog.locator("#chunk-doc").inner_text()

    step, neighbour = ("#chunk-next", first["chunk_index"] + 1) if first["chunk_index"] < 2 else \
        ("#chunk-prev", first["chunk_index"] - 1)
    page.click(step)
    expect(dialog.locator("#chunk-position")).to_contain_text(f"chunk {neighbour} of chunks 0–2")
    want = server.client.get(f"/v1/corpora/small/chunks/{first['doc_index']}/{neighbour}").json()
    assert dialog.locator("#chunk-content").inner_text() == want["content"]
    assert want["citation"] in dialog.locator("#chunk-coords").inner_text()
    assert page.is_enabled("#chunk-prev") == (neighbour > 0) and page.is_enabled("#chunk-next") == (neighbour < 2)
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")


def test_context_tab_assembles_passages_within_the_token_budget(tab, server):
    """The context tab shows what an agent's prompt would get: the text, its tokens against the budget, the sources."""
    page = open_playground(tab)
    page.fill("#question", "泡泡战士的游戏模式")
    page.click("#tab-context")
    page.fill("#max_tokens", "200")
    page.click("#run-context")
    page.wait_for_selector("#context-sources li")
    want = server.client.post("/v1/context", json={"corpus": "small", "query": "泡泡战士的游戏模式",
                                                   "max_tokens": 200}).json()
    assert want["tokens"] <= 200
    assert page.inner_text("#context-summary .tokens") == f"{want['tokens']} / 200 tokens"
    assert page.locator("#context-text").text_content() == want["context"]
    assert page.locator("#context-sources .citation").first.inner_text() == want["sources"][0]["citations"][0]


def test_a_copied_citation_pasted_into_a_report_resolves_with_its_claim_checked(tab, server):
    """Copy a result's citation, paste it behind claims, and see each one's verdict: a quote found, a quote not
    found, an unquoted claim the chunk does not support, a title that does not exist."""
    page = open_playground(tab)
    results = search(page, QUESTION, top_k=3)
    results.first.locator(".cite button").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == '[long_context: "泡泡战士", chunk 0]'

    page.click("#tab-citations")
    report = page.locator("#report")
    report.click()
    page.keyboard.type("据报道“由韩国Nexon开发与发行” ")
    page.keyboard.press("Control+V")
    page.keyboard.type("\n另据“由日本任天堂开发” ")
    page.keyboard.press("Control+V")
    page.keyboard.type("\nThe squeezing effect in LLM finetuning is caused by negative gradients ")
    page.keyboard.press("Control+V")
    page.keyboard.type('\n[long_context: "不存在的文章", chunk 0]')
    page.click("#run-resolve")
    page.wait_for_selector("#resolved li")

    assert page.inner_text("#resolve-summary") == "4 citations found: 1 ok, 0 partial, 3 failed (3 resolved to a chunk)"
    exact, wrong, unsupported, missing = page.locator("#resolved li").all()
    assert exact.locator(".badge.ok").inner_text() == "ok" and "doc 0 · chunk 0 · 泡泡战士" in exact.inner_text()
    assert exact.locator(".badge.exact").inner_text() == "quote: exact"
    assert exact.locator(".chunk-text mark").inner_text() == "由韩国Nexon开发与发行"
    assert wrong.locator(".badge.bad").inner_text() == "failed"
    assert wrong.locator(".badge.none").inner_text() == "quote: none"
    assert unsupported.locator(".badge.bad").inner_text() == "failed"
    assert unsupported.locator(".badge.unsupported").inner_text().startswith("unsupported 0.")
    assert unsupported.locator(".chunk-text mark").count() == 1  # the chunk's closest sentence is marked
    assert "not resolved" in missing.inner_text() and "no document titled '不存在的文章'" in missing.inner_text()


def test_api_errors_are_shown_as_the_services_message(tab, server):
    """A 4xx answer is shown as its status and the service's own explanation, in place of the previous results."""
    detail = server.client.post("/v1/search", json={"corpus": "sample", "query": "泡泡战士", "mode": "dense"}).json()
    page = open_playground(tab, "sample")
    assert search(page, "泡泡战士", mode="bm25").count() > 0
    page.check("input[name=mode][value=dense]")  # the sample corpus has no vectors
    page.click("#run-search")
    page.wait_for_selector("#search-error:not([hidden])")
    message = page.inner_text("#search-error")
    assert message.startswith("Error 409") and detail["detail"] in message
    assert page.locator("#results .result").count() == 0 and page.locator("#search-summary").is_hidden()


def test_a_corpus_picked_while_the_list_reloads_stays_picked(tab, server):
    """A reload answered after the user picked a corpus must not put the old choice back (CI once searched the
    wrong corpus: a key change and a reload click both listed the corpora, and the later answer reset the pick)."""
    page = open_playground(tab, "small")
    page.evaluate("""() => {  // corpus listings wait for release(); handled counts the answers the page has read
        const fetchNow = window.fetch;
        let release;
        const released = new Promise((done) => { release = done; });
        window.listing = { release, handled: 0 };
        window.fetch = (url, init) => {
            if (!String(url).endsWith("v1/corpora")) return fetchNow(url, init);
            return released.then(() => fetchNow(url, init)).then((resp) => {
                const read = resp.text.bind(resp);
                resp.text = () => read().finally(() => setTimeout(() => window.listing.handled++));
                return resp;
            });
        };
    }""")
    page.click("#reload-corpora")
    page.click("#reload-corpora")
    page.select_option("#corpus", "sample")
    page.evaluate("window.listing.release()")
    page.wait_for_function("() => window.listing.handled === 2")
    assert page.input_value("#corpus") == "sample"
    assert search(page, "泡泡战士", mode="bm25").count() > 0
    searched = [r for r in tab.requests if r.url.endswith("/v1/search")]
    assert searched[-1].post_data_json["corpus"] == "sample"


def test_highlighting_prefers_the_server_terms_and_falls_back_to_the_query(tab):
    """Terms come from the response's query_terms when the service sends them, else from CJK bigrams and Latin words."""
    page = tab.open("/")
    page.wait_for_load_state("load")
    assert page.evaluate("playground.termsFor({}, '泡泡战士, Nexon？')") == ["泡泡", "泡战", "战士", "Nexon"]
    assert page.evaluate("playground.termsFor({query_terms: ['战士', 'nexon']}, '泡泡战士')") == ["战士", "nexon"]
    marks = page.evaluate("""() => {
        const box = document.createElement('div');
        box.append(playground.highlight('Nexon与NexonX的泡泡战士', ['nexon', '泡泡', '泡战', '战士']));
        return [...box.querySelectorAll('mark')].map(m => m.textContent);
    }""")
    assert marks == ["Nexon", "泡泡战士"]  # whole Latin words only; overlapping bigrams merge into one mark


def test_the_playground_requests_nothing_but_the_service(tab, server):
    """Offline: the page, its script and style, and every API call go to the service itself, nothing to a CDN."""
    page = open_playground(tab)
    search(page, QUESTION, top_k=2)
    paths = {urlsplit(r.url).path for r in tab.requests}
    assert {"/", "/playground/app.js", "/playground/style.css", "/v1/corpora", "/v1/search"} <= paths
    assert tab.fetched and all(url.startswith(server.url + "/") for url in tab.fetched)
    assert all(r.url.startswith(server.url + "/") for r in tab.requests)  # not even an attempt blocked by the CSP
    assert "default-src 'self'" in server.client.get("/").headers["content-security-policy"]


@pytest.mark.parametrize("path, heading", [("/docs", ".swagger-ui .opblock-summary"), ("/redoc", "[data-section-id]")])
def test_api_docs_render_offline(tab, server, path, heading):
    """/docs (Swagger UI) and /redoc render from assets the service ships: no CDN request, the endpoints listed."""
    page = tab.open(path)
    page.wait_for_selector(heading)
    # visible: ReDoc also lists it in a sidebar group (the endpoints are grouped by tag), collapsed
    page.locator("text=Diverse hybrid search over one corpus >> visible=true").first.wait_for()
    fetched = [urlsplit(url) for url in tab.fetched]
    assert all(u.hostname == "127.0.0.1" for u in fetched), tab.fetched
    assets = [u.path for u in fetched if u.path.endswith((".js", ".css"))]
    assert assets and all(a.startswith("/docs-assets/") for a in assets), assets
    if path == "/redoc":  # ReDoc's CDN logo is replaced in the script the service serves: nothing to block
        expect(page.locator("img[alt='redocly logo']")).to_have_attribute("src", EMPTY_IMAGE)


@pytest.fixture(scope="module")
def locked(index_dir):
    srv = start_server(index_dir, {"small"}, RAG_API_KEYS="pg-key-1,pg-key-2")
    yield srv
    srv.stop()


def test_with_auth_on_the_page_asks_for_a_key_and_sends_it_as_a_bearer_header(browser, locked):
    """The page loads without a key; API calls without one show the 401 message, with one they work (header only)."""
    tab = Tab(browser, locked.url)
    try:
        page = tab.open("/")
        page.wait_for_selector("#corpus-error:not([hidden])")
        assert "Error 401" in page.inner_text("#corpus-error") and "API key" in page.inner_text("#corpus-error")
        served = [r for r in tab.requests if urlsplit(r.url).path in ("/", "/playground/app.js", "/playground/style.css")]
        assert len(served) == 3 and all(r.response().status == 200 for r in served)  # the page needs no key

        page.fill("#api-key", "pg-key-2")
        page.click("#reload-corpora")
        page.wait_for_selector("#corpus option[value='small']", state="attached")
        page.select_option("#corpus", "small")
        page.fill("#api-key", "")
        search(page, QUESTION)
        assert "Error 401" in page.inner_text("#search-error") and "missing or invalid API key" in page.inner_text(
            "#search-error")
        assert page.locator("#results .result").count() == 0

        page.fill("#api-key", "pg-key-2")
        page.click("#run-search")
        page.wait_for_selector("#results .result")
        assert page.locator("#results .result .title").first.inner_text() == "泡泡战士"
        assert page.locator("#search-error").is_hidden()
        api_calls = [r for r in tab.requests if "/v1/" in r.url]
        assert api_calls[-1].all_headers().get("authorization") == "Bearer pg-key-2"
        assert not any("pg-key" in r.url for r in tab.requests)  # never in a URL
        assert page.evaluate("sessionStorage.getItem('zh-rag.apiKey')") == "pg-key-2"
        assert not tab.external and not tab.errors and not tab.csp
    finally:
        tab.close()


def test_a_corpus_whose_semantic_index_is_building_shows_stage_share_and_eta(browser, tmp_path):
    """The coverage line of a build in progress, as a sentence (it was "stage → none, …, eta_s →")."""
    queued_dense_build(tmp_path, "q", sample_docs(3))
    srv = start_server(tmp_path, {"q"})  # no worker was started: the job waits
    tab = Tab(browser, srv.url)
    try:
        page = open_playground(tab, "q")
        expect(page.locator("#corpus-stats")).to_contain_text("ETA measuring")
        search(page, QUESTION)
        summary = page.inner_text("#search-summary")
        assert "Semantic index: none yet" in summary and "stage starting, 0% of its embedding done, ETA measuring" \
            in summary and "→" not in summary
        assert not tab.external and not tab.errors
    finally:
        tab.close()
        srv.stop()
