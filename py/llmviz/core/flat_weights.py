"""A model's parameters read from its npz without numpy, as FlatTensors.

The page's main thread has no numpy (the model worker has it), yet its views quote and
inspect the parameters from the first moment: the walkthrough shows the built-in model on
the bundled trace while the worker is still starting. ``read`` gives the same Trace of
parameters the worker sends (``Session.params``: state-dict names, ``lm_head.weight``
the same tensor as ``transformer.wte.weight`` when the file stores it once), from the
weights file the 3D view's first frame downloaded anyway (no second copy of them on the wire).

The file passes ``npz_gate`` first (names, shapes, declared sizes, before anything is
inflated); its arrays must be little-endian float32 in C order, as ``llmviz.core.weights``
writes them. Anything else is a WeightsError: the page then waits for the worker's copy.
"""
from __future__ import annotations

from typing import Any

from llmviz.core import npz_gate
from llmviz.core.limits import WeightsError
from llmviz.core.shape import ModelShape
from llmviz.core.trace import Trace
from llmviz.core.tracefile import FlatTensor

TIED = ("lm_head.weight", "transformer.wte.weight")


def read(npz_bytes: bytes, config: Any) -> Trace:
    """The parameters of ``config``'s model from the bytes of its npz (WeightsError on any misfit)."""
    shape = ModelShape.from_config(config)
    expected = shape.param_shapes()
    checked = npz_gate.check(npz_bytes, expected, optional=(TIED[0],))
    tensors = {}
    for member, data in checked.read():
        if member.descr != "<f4" or member.fortran_order:
            raise WeightsError(f"{member.name}: {member.descr} in {'Fortran' if member.fortran_order else 'C'} "
                               "order; the page reads little-endian float32 in C order here")
        tensors[member.name] = FlatTensor(memoryview(data).cast("f"), member.shape)
    tensors.setdefault(TIED[0], tensors[TIED[1]])
    return Trace({name: tensors[name] for name in expected}, shape)
