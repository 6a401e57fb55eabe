// Colours of the 3D view, and the legend that explains them.
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

function css(hex) {
  return "#" + hex.toString(16).padStart(6, "0");
}

const LEGEND_CSS = `
.llmviz-legend { position: absolute; left: 10px; bottom: 10px; z-index: 2;
  font: 12px/1.35 system-ui, sans-serif; color: #cfd6e4; background: rgba(14,17,23,0.94);
  border: 1px solid #2c3340; border-radius: 6px; padding: 6px 10px; max-width: 290px; }
.llmviz-legend summary { cursor: pointer; font-weight: 600; color: #e6ebf5; }
.llmviz-legend .row { display: flex; align-items: center; gap: 8px; margin: 4px 0; }
.llmviz-legend .bar { flex: 0 0 96px; height: 10px; border-radius: 2px; }
.llmviz-legend .ends { display: flex; justify-content: space-between; width: 96px;
  font-size: 10px; color: #8f99ab; margin: -2px 0 2px; }
.llmviz-legend .swatch { flex: 0 0 96px; height: 10px; border-radius: 2px; }
.llmviz-legend p { margin: 4px 0 0; color: #a7b0c0; }
.llmviz-legend p.keys { font-size: 11px; color: #8f99ab; }
`;

/**
 * Build the legend (a small HTML overlay) inside `parent` and return its element.
 * It says what the colours mean, that thin lines separate cells and brighter lines
 * mark every 16 cells, and what the neutral pattern of a scale view means.
 */
export function buildLegend(parent) {
  const doc = parent.ownerDocument;
  if (!doc.getElementById("llmviz-legend-css")) {
    const style = doc.createElement("style");
    style.id = "llmviz-legend-css";
    style.textContent = LEGEND_CSS;
    doc.head.appendChild(style);
  }
  const box = doc.createElement("details");
  box.className = "llmviz-legend";
  box.open = true;
  const gradient = (role) =>
    `linear-gradient(to right, ${css(PALETTE.negative)}, ${css(PALETTE.zero)} 50%, ${css(PALETTE[role])})`;
  const names = { parameter: "parameters (weights)", activation: "activations", aggregate: "aggregates (mean, max, sum)" };
  const checker = `repeating-linear-gradient(45deg, #303643 0 4px, #3a4150 4px 8px)`;
  box.innerHTML = `
    <summary>Colours</summary>
    ${ROLES.map((role) => `<div class="row"><span class="bar" style="background:${gradient(role)}"></span>${names[role]}</div>`).join("")}
    <div class="ends"><span>&minus;max</span><span>0</span><span>+max</span></div>
    <div class="row neutral-row"><span class="swatch" style="background:${checker}"></span>scale view: shape only, no values</div>
    <p>Orange: negative; the block's hue: positive; brighter: larger |value| (scaled per block
    to its largest |value|). Thin lines separate cells, brighter lines mark every 16 cells.</p>
    <p class="keys">Drag: orbit · right drag: pan · wheel: zoom · double click: go to a block.
    Keys (click the view first): arrows/WASD pan, Shift+arrows orbit, +/&minus; zoom, Home: all.</p>`;
  parent.appendChild(box);
  return box;
}

/** Show the legend's rows that apply to a scene: the scale-view row only when it has such blocks. */
export function fitLegend(legend, blocks) {
  const row = legend.querySelector(".neutral-row");
  if (row) row.style.display = blocks.some((b) => b.pattern === "neutral") ? "" : "none";
}
