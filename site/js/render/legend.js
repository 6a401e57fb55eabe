// The legend of the 3D view: what the colours, lines and patterns mean (styles: css/render.css).
import { ROLES, cellCss } from "./colors.js";
import { t as tr } from "../i18n.js";

const escapeHtml = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);


/**
 * Build the legend (a small HTML overlay) inside `parent` and return its element.
 * It says what the colours mean, that thin lines separate cells and brighter lines
 * mark every 16 cells, and what the neutral pattern of a scale view means.
 */
export function buildLegend(parent) {
  const doc = parent.ownerDocument;
  const box = doc.createElement("details");
  box.className = "llmviz-legend";
  box.open = true;
  // the colours cellColor gives from -max to +max, as the blocks show them
  const stops = Array.from({ length: 17 }, (_, k) => -1 + k / 8);
  const gradient = (role) => `linear-gradient(to right, ${stops.map((v) => cellCss(v, 1, role)).join(", ")})`;
  const names = { parameter: tr("scene.legend.parameter", {}, "parameters (weights)"),
                  activation: tr("scene.legend.activation", {}, "activations"),
                  aggregate: tr("scene.legend.aggregate", {}, "aggregates (mean, max, sum)") };
  const say = (key, english) => escapeHtml(tr(`scene.legend.${key}`, {}, english));
  const checker = `repeating-linear-gradient(45deg, #303643 0 4px, #3a4150 4px 8px)`;
  box.innerHTML = `
    <summary>${say("summary", "Colours")}</summary>
    ${ROLES.map((role) => `<div class="row"><span class="bar" style="background:${gradient(role)}"></span>${escapeHtml(names[role])}</div>`).join("")}
    <div class="ends"><span>&minus;max</span><span>0</span><span>+max</span></div>
    <div class="row neutral-row"><span class="swatch" style="background:${checker}"></span>${say("neutral", "scale view: shape only, no values")}</div>
    <p>${say("colours", "Orange: negative; the block's hue: positive; brighter: larger |value| (scaled per block "
      + "to its largest |value|). Thin lines separate cells, brighter lines mark every 16 cells.")}</p>
    <p class="keys">${say("mouse", "Drag: orbit · right drag: pan · wheel: zoom · double click: go to a block.")}
    ${say("keys", "Keys (click the view first): arrows/WASD pan, Shift+arrows orbit, +/− zoom, Home: all.")}</p>`;
  parent.appendChild(box);
  return box;
}

/** Show the legend's rows that apply to a scene: the scale-view row only when it has such blocks. */
export function fitLegend(legend, blocks) {
  const row = legend.querySelector(".neutral-row");
  if (row) row.style.display = blocks.some((b) => b.pattern === "neutral") ? "" : "none";
}
