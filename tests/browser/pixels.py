"""Screenshots as pixels, decoded by the browser itself (no image library needed).

Shared by the renderer and scene-view tests: ``png_pixels(page, png)`` is an
(height, width, 3) uint8 array of the PNG's colours, read without colour conversion.
"""
from __future__ import annotations

import base64

import numpy as np

DECODE_JS = """async (b64) => {
  const blob = await (await fetch('data:image/png;base64,' + b64)).blob();
  const bitmap = await createImageBitmap(blob, {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const g = canvas.getContext('2d');
  g.drawImage(bitmap, 0, 0);
  const rgba = g.getImageData(0, 0, bitmap.width, bitmap.height).data;
  let text = '';
  for (let i = 0; i < rgba.length; i += 0x8000) text += String.fromCharCode.apply(null, rgba.subarray(i, i + 0x8000));
  return [bitmap.width, bitmap.height, btoa(text)];
}"""


def png_pixels(page, png: bytes) -> np.ndarray:
    """The RGB pixels of ``png``, decoded in ``page`` (any page of the browser)."""
    width, height, raw = page.evaluate(DECODE_JS, base64.b64encode(png).decode())
    return np.frombuffer(base64.b64decode(raw), dtype=np.uint8).reshape(height, width, 4)[:, :, :3]
