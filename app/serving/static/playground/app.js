// zh-rag playground: plain JS against the service's own /v1 API (same origin, nothing else is loaded).
"use strict";

const KEY_STORE = "zh-rag.apiKey";  // sessionStorage: gone when the tab closes, never put in a URL
const $ = (id) => document.getElementById(id);
const state = { corpora: [], terms: [], chunkSeq: 0, seq: { corpora: 0, search: 0, context: 0, resolve: 0 } };

// ---------- small DOM helpers (text always goes in as text, never as HTML) ----------

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function put(node, ...children) {  // replace a node's children, skipping the absent (null) ones
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

function fmt(n, digits = 3) {
  if (typeof n !== "number" || !Number.isFinite(n)) return String(n);
  return Number.isInteger(n) ? n.toLocaleString("en") : n.toFixed(digits);
}

function describe(value) {  // any JSON value as one short readable string
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.map(describe).join(", ");
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${k} → ${describe(v)}`).join(", ");
  if (typeof value === "number") return fmt(value, 2);
  return String(value);
}

function link(url) {  // only http(s) URLs become links; anything else (e.g. "cmrc2018:TRIAL_800") stays text
  return /^https?:\/\//i.test(url) ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url) : url;
}

function showError(node, err) {
  node.textContent = err ? err.message : "";
  node.hidden = !err;
}

// ---------- the API ----------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function apiKey() { return $("api-key").value.trim(); }

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, cache: "no-store",
                               body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, `Could not reach the service: ${err.message}`);
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!resp.ok) {
    const label = $("api-key").closest("label");
    label.classList.toggle("attention", resp.status === 401);
    throw new ApiError(resp.status, errorMessage(resp, data, text));
  }
  if (data === null) throw new ApiError(resp.status, `The service answered ${resp.status} without JSON.`);
  return data;
}

function errorMessage(resp, data, text) {
  let detail = data && data.detail;
  if (Array.isArray(detail)) {
    detail = detail.map((d) => (d && d.msg ? `${(d.loc || []).join(".")}: ${d.msg}` : describe(d))).join("; ");
  } else if (detail && typeof detail === "object") {
    detail = JSON.stringify(detail);
  }
  if (!detail) detail = (text || "").trim().slice(0, 300) || "no details";
  const status = `Error ${resp.status}${resp.statusText ? " " + resp.statusText : ""}`;
  const hint = resp.status === 401 ? " Enter a valid API key at the top of the page." : "";
  return `${status}: ${detail}${hint}`;
}

// ---------- corpora ----------

async function loadCorpora() {
  const select = $("corpus");
  const seq = ++state.seq.corpora;  // a key change and a reload click can overlap: the last one asked renders
  $("corpus-stats").textContent = "loading corpora…";
  try {
    const data = await api("GET", "v1/corpora");
    if (seq !== state.seq.corpora) return;
    const previous = select.value;  // read now: the user may have picked a corpus while this was loading
    state.corpora = data.corpora;
    put(select,
      ...data.corpora.map((c) => el("option", { value: c.name }, c.name)),
      ...Object.entries(data.unavailable || {}).map(([name, why]) =>
        el("option", { value: name, disabled: true, title: why }, `${name} (unavailable)`)),
    );
    if (data.corpora.some((c) => c.name === previous)) select.value = previous;
    showError($("corpus-error"), null);
    if (!data.corpora.length) {
      showError($("corpus-error"), new Error("No corpus is served yet: build one with `zh-rag build CORPUS.json` (see the README)."));
    }
  } catch (err) {
    if (seq !== state.seq.corpora) return;
    showError($("corpus-error"), err);
  }
  showStats();
}

function showStats() {
  const c = state.corpora.find((x) => x.name === $("corpus").value);
  const stats = $("corpus-stats");
  if (!c) { stats.textContent = ""; return; }
  const retrieval = c.dense ? `hybrid: BM25 + dense (${c.embedder}${c.ann ? ", " + c.ann : ""})` : "BM25 only (no vectors)";
  stats.textContent = [
    `${fmt(c.documents)} documents` + (c.empty_documents ? ` (${fmt(c.empty_documents)} empty)` : ""),
    `${fmt(c.chunks)} chunks`, `${fmt(c.characters)} characters`, `~${Math.round(c.avg_chunk_chars)} chars/chunk`,
    retrieval, `${fmt(c.duplicate_groups)} near-duplicate groups`, `built ${c.built_at}`,
    ...(c.dense_coverage ? [coverageText(c.dense_coverage)] : []),
  ].join(" · ");
  stats.title = `version ${c.version}\nsource ${c.source_path}\nsample titles: ${c.sample_titles.join(" / ")}`;
}

// ---------- query terms and highlighting ----------

const CJK = "\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\p{Script=Hangul}";
const CJK_RUN = new RegExp(`[${CJK}]+|[^${CJK}]+`, "gu");
const HAS_CJK = new RegExp(`[${CJK}]`, "u");
const WORD_CHAR = `(?:(?![${CJK}])[\\p{L}\\p{N}])`;  // a letter or digit of a non-CJK word

// The terms to highlight: the server's own (query_terms) when it sends them; otherwise CJK bigrams and whole
// Latin words/numbers of the query, split on whitespace and punctuation.
function termsFor(response, query) {
  if (response && Array.isArray(response.query_terms)) {
    return response.query_terms.filter((t) => typeof t === "string" && t.trim());
  }
  const terms = new Set();
  for (const part of (query || "").split(/[\s\p{P}\p{S}]+/u)) {
    for (const run of part.match(CJK_RUN) || []) {
      if (HAS_CJK.test(run)) {
        if (run.length === 1) terms.add(run);
        for (let i = 0; i + 2 <= run.length; i++) terms.add(run.slice(i, i + 2));
      } else if (run.length >= 2 || /\d/.test(run)) {
        terms.add(run);
      }
    }
  }
  return [...terms];
}

function escapeRegExp(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

// Text with every occurrence of the terms in <mark>; overlapping matches merge. Latin terms match whole words.
function highlight(text, terms) {
  const marked = new Uint8Array(text.length);
  for (const term of terms) {
    const body = escapeRegExp(term.trim());
    if (!body) continue;
    const pattern = HAS_CJK.test(term) ? body : `(?<!${WORD_CHAR})${body}(?!${WORD_CHAR})`;
    for (const m of text.matchAll(new RegExp(pattern, "giu"))) {
      marked.fill(1, m.index, m.index + m[0].length);
    }
  }
  const frag = document.createDocumentFragment();
  let i = 0;
  while (i < text.length) {
    let j = i;
    while (j < text.length && marked[j] === marked[i]) j++;
    const piece = text.slice(i, j);
    frag.append(marked[i] ? el("mark", null, piece) : piece);
    i = j;
  }
  return frag;
}

// A result's content with its best sentences (the service's highlights, document offsets) in <span class="best">,
// best first by data-rank, and the query terms marked inside and out.
function resultContent(r, terms) {
  const spans = (Array.isArray(r.highlights) ? r.highlights : [])
    .map((h, rank) => [h.start_char - r.start_char, h.end_char - r.start_char, rank])
    .filter(([a, b]) => 0 <= a && a < b && b <= r.content.length)
    .sort((x, y) => x[0] - y[0]);
  const frag = document.createDocumentFragment();
  let i = 0;
  for (const [a, b, rank] of spans) {
    if (a < i) continue;
    frag.append(highlight(r.content.slice(i, a), terms),
                el("span", { class: "best", "data-rank": rank + 1, title: "A best sentence for the question" },
                   highlight(r.content.slice(a, b), terms)));
    i = b;
  }
  frag.append(highlight(r.content.slice(i), terms));
  return frag;
}

// ---------- shared widgets ----------

function copyButton(text) {
  const button = el("button", { type: "button", class: "copy", title: "Copy to the clipboard" }, "Copy");
  button.addEventListener("click", async (event) => {
    event.stopPropagation();
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {  // no clipboard API (plain http on another host): the old way
      const area = el("textarea", { readonly: true });
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  return button;
}

function citation(text) {
  return el("span", { class: "cite" }, el("code", { class: "citation" }, text), copyButton(text));
}

function confidenceLine(data) {
  const low = data.low_confidence;
  const line = el("div", { class: "line" },
    el("span", null, "confidence ", el("strong", { class: "confidence" }, data.confidence.toFixed(2))),
    el("span", { class: low ? "meter low" : "meter", role: "img", "aria-label": `confidence ${data.confidence.toFixed(2)}` },
       el("span")));
  line.querySelector(".meter > span").style.width = `${Math.max(0, Math.min(1, data.confidence)) * 100}%`;
  return line;
}

function lowConfidenceWarning(data) {
  return data.low_confidence
    ? el("p", { class: "warning low-confidence", role: "status" },
         "Low confidence: the best match is probably not an answer to this question. " +
         "Check the passages before citing them, or rephrase.")
    : null;
}

function coverageText(cov) {  // the service's one-line summary (stage, share, ETA); older services send none
  if (typeof cov.summary === "string" && cov.summary) return cov.summary;
  return `Semantic index: ${cov.stage} stage, ${Math.round(100 * (cov.chunks_with_vectors || 0))}% of passages`;
}

function infoLine(data, terms) {  // fields newer services send; each shown only when present
  const parts = [];
  if (Array.isArray(data.query_terms)) parts.push(`searched terms: ${terms.join(" · ") || "none"}`);
  if (data.translated_terms !== undefined && data.translated_terms !== null) {
    parts.push(`translated terms: ${describe(data.translated_terms) || "none"}`);
  }
  if (data.dense_coverage !== undefined && data.dense_coverage !== null) parts.push(coverageText(data.dense_coverage));
  if (data.guidance) parts.push(`guidance: ${describe(data.guidance)}`);
  return parts.length ? el("p", { class: "info" }, parts.join(" — ")) : null;
}

const SCORE_MEANING = {  // README, "Reading the scores"
  bm25: "raw BM25, 0 = none of the searched terms",
  dense: "centred semantic similarity, 0 = no closer than a typical passage",
  fused: "the ranking score, both sides scaled to 0..1 and summed",
};

function fixed3(value) {  // three decimals, and no "-0.000" for a tiny negative
  const text = value.toFixed(3);
  return Number(text) === 0 ? "0.000" : text;
}

function evidence(result, maxima) {
  const box = el("div", { class: "evidence", "aria-label": "evidence" });
  for (const kind of ["bm25", "dense", "fused"]) {
    const value = result.scores ? result.scores[kind] : null;
    const missing = typeof value !== "number";
    const fill = el("div", { class: "fill" });
    const share = missing || maxima[kind] <= 0 ? 0 : Math.max(0, value) / maxima[kind];
    fill.style.width = `${(share * 100).toFixed(1)}%`;
    box.append(el("div", {
      class: `bar ${kind}${missing ? " missing" : ""}`, "data-kind": kind,
      title: missing ? `${kind}: not computed for this result`
        : `${kind} ${value}: ${SCORE_MEANING[kind]} (bar relative to the best ${kind} in this list)`,
    }, el("span", { class: "label" }, kind), el("div", { class: "track" }, fill),
       el("span", { class: "value" }, missing ? "n/a" : fixed3(value))));
  }
  box.append(el("div", { class: "note" }, "bars: relative to the best in this list"));
  return box;
}

function params() {
  const num = (id) => Number.parseInt($(id).value, 10);
  return {
    corpus: $("corpus").value,
    query: $("question").value,
    mode: document.querySelector("input[name=mode]:checked").value,
    top_k: num("top_k"),
    diverse: $("diverse").checked,
    min_docs: num("min_docs"),
    max_per_doc: num("max_per_doc"),
  };
}

function checkParams(p) {
  if (!p.corpus) throw new ApiError(0, "Pick a corpus first (if the list is empty, see the message above it).");
  if (!p.query.trim()) throw new ApiError(0, "Type a question first.");
}

const OUTPUTS = { search: ["search-summary", "results"], context: ["context-summary", "context-sources", "context-text"],
                  resolve: ["resolve-summary", "resolved"] };

async function running(kind, statusText, work) {  // one request of a kind at a time on screen; late answers dropped
  const seq = ++state.seq[kind];
  const status = $(`${kind}-status`);
  const button = $(`run-${kind}`);
  status.textContent = statusText;
  button.disabled = true;
  showError($(`${kind}-error`), null);
  try {
    const render = await work();
    if (seq === state.seq[kind]) render();
    status.textContent = "";
  } catch (err) {
    if (seq === state.seq[kind]) {  // the error replaces the last answer: no stale results under it
      for (const id of OUTPUTS[kind]) {
        put($(id));
        if (id !== "results" && id !== "context-sources" && id !== "resolved") $(id).hidden = true;
      }
      showError($(`${kind}-error`), err);
      status.textContent = "";
    }
  } finally {
    if (seq === state.seq[kind]) button.disabled = false;
  }
}

// ---------- search ----------

function runSearch() {
  return running("search", "searching…", async () => {
    const p = params();
    checkParams(p);
    const data = await api("POST", "v1/search", p);
    return () => renderSearch(data, p.query);
  });
}

function renderSearch(data, query) {
  const terms = termsFor(data, query);
  state.terms = terms;
  const summary = $("search-summary");
  put(summary,
    el("div", { class: "line" },
       el("span", null, `${data.results.length} results · mode ${data.mode} · ${fmt(data.took_ms, 1)} ms`),
       confidenceLine(data)),
    lowConfidenceWarning(data),
    infoLine(data, terms),
  );
  summary.hidden = false;
  const maxima = {};
  for (const kind of ["bm25", "dense", "fused"]) {
    maxima[kind] = Math.max(0, ...data.results.map((r) => (r.scores && typeof r.scores[kind] === "number" ? r.scores[kind] : 0)));
  }
  put($("results"), ...data.results.map((r) => {
    const open = () => openChunk(data.corpus, r.doc_index, r.chunk_index);
    return el("li", {
      class: "result", tabindex: 0, "data-doc": r.doc_index, "data-chunk": r.chunk_index,
      title: "Open this chunk", onclick: open,
      onkeydown: (e) => { if (e.key === "Enter" && e.target === e.currentTarget) open(); },
    },
      el("div", { class: "head" }, el("span", { class: "rank" }, `#${r.rank}`),
         el("span", { class: "title", lang: "zh" }, r.title),
         el("span", { class: "coords" }, placeText(r.source) || `doc ${r.doc_index} · chunk ${r.chunk_index}`),
         citation(r.citation)),
      evidence(r, maxima),
      el("p", { class: "content", lang: "zh" }, resultContent(r, terms)));
  }));
  if (!data.results.length) $("results").append(el("li", { class: "info" }, "No chunk matched."));
}

// A document passage's file and place ("lmer.pdf · page 12"); null for a JSON corpus's chunks.
function placeText(src) {
  if (!src || src.format === "json") return null;
  const place = ["page", "slide", "part"].filter((k) => src[k] != null).map((k) => `${k} ${src[k]}`);
  if (src.sheet != null) place.push(`sheet ${src.sheet}${src.rows ? `, rows ${src.rows}` : ""}`);
  return [src.file, ...place].join(" · ");
}

// ---------- chunk drill-down ----------

async function openChunk(corpus, doc, chunk) {
  const dialog = $("chunk-dialog");
  const seq = ++state.chunkSeq;
  if (!dialog.open) dialog.showModal();
  showError($("chunk-error"), null);
  $("chunk-prev").disabled = $("chunk-next").disabled = true;
  try {
    const c = await api("GET", `v1/corpora/${encodeURIComponent(corpus)}/chunks/${doc}/${chunk}`);
    if (seq === state.chunkSeq) renderChunk(c);
  } catch (err) {
    if (seq === state.chunkSeq) showError($("chunk-error"), err);
  }
}

function renderChunk(c) {
  $("chunk-title").textContent = c.title;
  put($("chunk-coords"),
    `doc ${c.doc_index} · chunk ${c.chunk_index} · characters ${c.start_char}–${c.end_char} · `, citation(c.citation));
  const rows = [["title", c.title], ["url", c.url ? link(c.url) : "—"]];
  if (c.metadata && typeof c.metadata === "object") {
    for (const [k, v] of Object.entries(c.metadata)) rows.push([k, typeof v === "string" ? v : JSON.stringify(v)]);
  }
  put($("chunk-doc"), el("dl", null, rows.map(([k, v]) => [el("dt", null, k), el("dd", null, v)])));
  put($("chunk-content"), highlight(c.content, state.terms));
  $("chunk-content").scrollTop = 0;
  const n = c.chunks_in_document;  // chunks are numbered from 0, as in the citations and the coordinates above
  $("chunk-position").textContent = `chunk ${c.chunk_index} of chunks 0–${n - 1} in this document`;
  for (const [id, to] of [["chunk-prev", c.previous], ["chunk-next", c.next]]) {
    const button = $(id);
    button.disabled = !to;
    button.title = to ? to.citation : "";
    button.onclick = to ? () => openChunk(c.corpus, to.doc_index, to.chunk_index) : null;
  }
}

// ---------- context ----------

function runContext() {
  return running("context", "assembling…", async () => {
    const p = { ...params(), max_tokens: Number.parseInt($("max_tokens").value, 10) };
    checkParams(p);
    const data = await api("POST", "v1/context", p);
    return () => renderContext(data);
  });
}

function renderContext(data) {
  const used = el("span", { class: "meter" }, el("span"));
  used.firstChild.style.width = `${Math.min(1, data.tokens / data.max_tokens) * 100}%`;
  put($("context-summary"),
    el("div", { class: "line" },
       el("span", { class: "tokens" }, `${fmt(data.tokens)} / ${fmt(data.max_tokens)} tokens`), used,
       el("span", null, `${data.sources.length} sources`)),
    confidenceLine(data),
    lowConfidenceWarning(data),
    infoLine(data, termsFor(data, data.query)),
  );
  $("context-summary").hidden = false;
  put($("context-sources"), ...data.sources.map((s) => el("li", null,
    el("div", { class: "line" }, el("strong", { lang: "zh" }, s.title),
       el("span", { class: "coords" }, `doc ${s.doc_index} · chunks ${s.chunk_indices.join(", ")}`),
       s.truncated ? el("span", { class: "badge truncated" }, "cut to fit") : null,
       s.url ? el("span", { class: "info" }, link(s.url)) : null),
    s.citations.map((c) => citation(c)))));
  const text = $("context-text");
  text.textContent = data.context;
  text.hidden = false;
}

// ---------- citations ----------

const CLAIM_MEANING = {
  exact: "the quoted claim is in the chunk word for word",
  normalized: "the quoted claim is in the chunk up to punctuation, spacing or width",
  none: "the quoted claim is not in the chunk",
};

function runResolve() {
  return running("resolve", "resolving…", async () => {
    const corpus = $("corpus").value;
    const text = $("report").value;
    if (!corpus) throw new ApiError(0, "Pick a corpus first.");
    if (!text.trim()) throw new ApiError(0, "Paste a text with citations first.");
    const data = await api("POST", "v1/citations/resolve", { corpus, text });
    return () => renderResolved(data);
  });
}

const SUPPORT_MEANING = {
  supported: "the chunk holds the claim's concepts in one or two sentences",
  partial: "the chunk holds only part of the claim's concepts: check it",
  unsupported: "the chunk does not say this: cite the chunk that does, or drop the claim",
};
const VERDICT_CLASS = { ok: "ok", partial: "partial", failed: "bad" };

function renderResolved(data) {
  put($("resolve-summary"),
    el("span", null, `${data.found} citations found: ${data.ok} ok, ${data.partial} partial, ${data.failed} failed ` +
                     `(${data.resolved} resolved to a chunk)`),
    data.found ? null : el("p", { class: "info" }, 'No citation of the form [long_context: "<title>", chunk N] or [文档: file, page N] in the text.'));
  $("resolve-summary").hidden = false;
  put($("resolved"), ...data.citations.map((c) => el("li", { class: VERDICT_CLASS[c.verdict] },
    el("div", { class: "line" },
       el("span", { class: `badge ${VERDICT_CLASS[c.verdict]}` }, c.resolved ? c.verdict : "not resolved"),
       el("code", { class: "citation" }, c.citation)),
    c.resolved ? el("div", { class: "coords" }, `${placeText(c.source) || `doc ${c.doc_index} · chunk ${c.chunk_index}`} · `,
                    el("span", { lang: "zh" }, c.title)) : null,
    c.reason ? el("p", { class: "reason" }, c.reason) : null,
    c.claim ? el("div", { class: "line claim" },
                 el("span", { class: "quote", lang: "zh" }, c.claim_quoted ? `“${c.claim}”` : c.claim),
                 c.claim_match ? el("span", { class: `badge ${c.claim_match}`, title: CLAIM_MEANING[c.claim_match] },
                                    `quote: ${c.claim_match}`) : null,
                 c.support ? el("span", { class: `badge ${c.support}`, title: SUPPORT_MEANING[c.support] },
                                `${c.support} ${c.support_score.toFixed(2)}`) : null) : null,
    c.content ? el("div", { class: "chunk-text", lang: "zh" },
                   c.best_sentence ? highlight(c.content, [c.best_sentence.text]) : c.content) : null)));
}

// ---------- wiring ----------

function selectTab(name) {
  for (const tab of ["search", "context", "citations"]) {
    const on = tab === name;
    $(`tab-${tab}`).setAttribute("aria-selected", String(on));
    $(`panel-${tab}`).hidden = !on;
  }
}

function activeTab() {
  return document.querySelector(".tabs [aria-selected=true]").id.slice(4);
}

document.addEventListener("DOMContentLoaded", () => {
  const key = $("api-key");
  key.value = sessionStorage.getItem(KEY_STORE) || "";
  key.addEventListener("input", () => {
    if (key.value.trim()) sessionStorage.setItem(KEY_STORE, key.value.trim());
    else sessionStorage.removeItem(KEY_STORE);
  });
  key.addEventListener("change", () => { if (!state.corpora.length) loadCorpora(); });
  $("corpus").addEventListener("change", showStats);
  $("reload-corpora").addEventListener("click", loadCorpora);
  $("query-form").addEventListener("submit", (event) => event.preventDefault());
  $("question").addEventListener("keydown", (event) => {  // Enter runs the open tab's request
    if (event.key !== "Enter" || event.isComposing) return;  // not while an IME is composing Chinese
    event.preventDefault();
    if (activeTab() === "context") runContext();
    else { selectTab("search"); runSearch(); }
  });
  $("run-search").addEventListener("click", runSearch);
  $("run-context").addEventListener("click", runContext);
  $("run-resolve").addEventListener("click", runResolve);
  for (const tab of ["search", "context", "citations"]) $(`tab-${tab}`).addEventListener("click", () => selectTab(tab));
  $("chunk-close").addEventListener("click", () => $("chunk-dialog").close());
  loadCorpora();
});

window.playground = { termsFor, highlight };  // for the browser tests and the console
