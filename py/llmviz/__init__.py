"""llmviz: a small GPT running step by step, with the source code beside every step.

Public API:
    load(path) -> GPT                 weights NAME.npz + model card NAME.json
    GPT, GPTConfig                    the numpy port of nanoGPT's model
    GPT.trace(idx) -> Trace           every intermediate tensor, by name
    WeightsError, InputError          what bad weights and bad input raise
"""
from importlib import metadata as _metadata

from llmviz.core.trace import Trace, trace_shapes
from llmviz.core.vocab import InputError, Vocab

try:  # the one version string is pyproject.toml's, read from the installed package's metadata
    __version__ = _metadata.version("llmviz")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["load", "GPT", "GPTConfig", "Trace", "trace_shapes", "Vocab", "InputError",
           "WeightsError", "__version__"]


def __getattr__(name):
    # numpy-backed parts are imported on first use, so the pure-Python modules
    # (trace, vocab, layout, walkthrough, annotate) work where numpy is missing
    if name in ("GPT", "GPTConfig"):
        from llmviz.core import model
        return getattr(model, name)
    if name in ("load", "WeightsError"):
        from llmviz.core import weights
        return getattr(weights, name)
    raise AttributeError(f"module 'llmviz' has no attribute {name!r}")
