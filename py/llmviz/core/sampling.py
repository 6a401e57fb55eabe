"""Drawing a token from a probability distribution with one uniform number.

``draw(p, u)`` inverts the cumulative distribution: the page's ``choose_next``
(``llmviz.page.live``) samples with it from any generator that has ``random()`` (the standard
library's ``random.Random``, or a numpy ``Generator``), so the page needs no numpy.random (half a
megabyte of numpy it then does not ship: tools/numpy_modules.txt). numpy is imported when a draw
is made: the module imports without it, as the page's modules must.
"""
from __future__ import annotations

__all__ = ["draw"]


def draw(p, u: float) -> int:
    """The category of probabilities ``p`` (summing to 1, or nearly) that the uniform number
    ``u`` in [0, 1) falls in: the first whose cumulative sum exceeds ``u`` times the total; never a
    category of probability 0."""
    import numpy as np

    p = np.asarray(p, dtype=np.float64)
    cumulative = np.cumsum(p)
    token = min(int(np.searchsorted(cumulative, u * cumulative[-1], side="right")), p.size - 1)
    while p[token] <= 0:      # u * total rounding onto the last positive category's edge
        token -= 1
    return token
