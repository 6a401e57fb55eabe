"""llmviz: a small GPT running step by step, with the source code beside every step.

Public API:
    load(path) -> GPT                 weights NAME.npz + model card NAME.json
    GPT, GPTConfig                    the numpy port of nanoGPT's model
    GPT.trace(idx) -> Trace           every intermediate tensor, by name
    WeightsError, InputError          what bad weights and bad input raise
"""
from .trace import Trace, trace_shapes
from .vocab import InputError, Vocab

__version__ = "0.1.0"

__all__ = ["load", "GPT", "GPTConfig", "Trace", "trace_shapes", "Vocab", "InputError",
           "WeightsError", "__version__"]


def __getattr__(name):
    # numpy-backed parts are imported on first use, so the pure-Python modules
    # (trace, vocab, layout, walkthrough, annotate) work where numpy is missing
    if name in ("GPT", "GPTConfig"):
        from . import model
        return getattr(model, name)
    if name in ("load", "WeightsError"):
        from . import weights
        return getattr(weights, name)
    raise AttributeError(f"module 'llmviz' has no attribute {name!r}")
