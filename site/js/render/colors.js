// Colours of the 3D view: the palette and the one colour formula (cellColor).
//
// One hue per role (parameters blue, activations teal, aggregates lavender) for
// positive values, one warm hue (orange) for negative values of every role, and
// lightness for magnitude: a cell at zero is dark grey, a cell at the block's
// largest |value| is the full hue. Cool against warm stays apart for the common
// colour-vision deficiencies (checked with simulated deuteranopia, protanopia and
// tritanopia), and brightness alone still tells small from large.

export const ROLES = ["parameter", "activation", "aggregate"];

// sRGB hex colours; the shader receives them as 0..1 floats
export const PALETTE = {
  background: 0x0e1117,
  zero: 0x262a33,        // a cell whose value is 0 (or a block still waiting for values)
  negative: 0xf39c34,    // negative values, every role
  parameter: 0x3d7fe0,   // positive parameters (weights, biases)
  activation: 0x35c9b0,  // positive activations (what the forward pass computes)
  aggregate: 0xc9b2ff,   // positive aggregates (mean, rstd, max, sum of a row)
  highlight: 0xffe27a,   // outline of highlighted blocks and cells
  grid16: 0xd8deea,      // the lines every 16 cells
};

export const ROLE_INDEX = { parameter: 0, activation: 1, aggregate: 2 };

/** A palette entry as [r, g, b] floats in 0..1 (sRGB, written to the screen as is). */
export function rgb(hex) {
  return [((hex >> 16) & 255) / 255, ((hex >> 8) & 255) / 255, (hex & 255) / 255];
}

/** A palette entry as a CSS colour. */
export function css(hex) {
  return "#" + hex.toString(16).padStart(6, "0");
}

const HUE = [rgb(PALETTE.parameter), rgb(PALETTE.activation), rgb(PALETTE.aggregate)];
const NEG = rgb(PALETTE.negative), ZERO = rgb(PALETTE.zero);
export const GAMMA = 0.8;    // magnitude -> colour curve (the block shader uses the same, see blocks.js)

/**
 * The colour of a value as [r, g, b] in 0..1, the formula every picture of values uses
 * (the block shader in blocks.js mirrors it in GLSL): `scale` = 1 / max|value| of the
 * block; zero is PALETTE.zero, |value| = max the role's hue (positive) or the negative hue.
 * Non-finite values get the zero colour.
 */
export function cellColor(value, scale, role) {
  const v = value * scale;
  if (!Number.isFinite(v)) return ZERO.slice();
  const m = Math.pow(Math.min(Math.abs(v), 1), GAMMA);
  const hue = v < 0 ? NEG : (HUE[ROLE_INDEX[role] ?? 1]);
  return [ZERO[0] + (hue[0] - ZERO[0]) * m, ZERO[1] + (hue[1] - ZERO[1]) * m, ZERO[2] + (hue[2] - ZERO[2]) * m];
}

/** cellColor as a CSS colour. */
export function cellCss(value, scale, role) {
  const [r, g, b] = cellColor(value, scale, role);
  return `rgb(${Math.round(r * 255)},${Math.round(g * 255)},${Math.round(b * 255)})`;
}

