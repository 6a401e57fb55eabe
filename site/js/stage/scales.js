// The size buttons over the 3D view: the model the page runs, then real GPTs at their
// real shapes for a sense of scale. A toolbar: Tab reaches the pressed button, the arrow
// keys (and Home, End) move between the sizes; those keys stay in the toolbar (the
// walkthrough steps with them elsewhere).
import { t as tr } from "../i18n.js";


/**
 * Build the toolbar in `container`: `views` = [{name, label, title?}] (the model first,
 * named "model"); `choose(name)` runs on a click once enabled. Returns {bar, info, mark,
 * enable, setModelLabel}: `mark(name)` presses one button, `enable()` turns the buttons on.
 */
export function buildScaleToolbar(container, views, choose) {
  const doc = container.ownerDocument;
  const bar = doc.createElement("div");
  bar.className = "scene-scales";
  bar.setAttribute("role", "toolbar");
  bar.setAttribute("aria-label", tr("scene.scales.aria", {}, "model size"));
  bar.setAttribute("aria-orientation", "horizontal");
  bar.addEventListener("keydown", moveFocus);
  for (const { name, label, title } of views) {
    const b = doc.createElement("button");
    b.type = "button";
    b.dataset.scale = name;
    b.textContent = label;
    b.disabled = true;
    b.title = title || (name === "model" ? tr("scene.scales.model_title", {}, "the model this page runs, with its real numbers")
                                         : tr("scene.scales.scale_title", { model: label }, `${label} at its real size (shape only)`));
    b.setAttribute("aria-pressed", String(name === "model"));
    b.tabIndex = name === "model" ? 0 : -1;
    b.addEventListener("click", () => choose(name));
    bar.appendChild(b);
  }
  const info = doc.createElement("div");
  info.className = "scene-scale-info";
  info.hidden = true;
  container.appendChild(bar);
  container.appendChild(info);
  const buttons = () => [...bar.querySelectorAll("button")];
  return {
    bar,
    info,
    mark(name) {
      for (const b of buttons()) {
        b.setAttribute("aria-pressed", String(b.dataset.scale === name));
        b.tabIndex = b.dataset.scale === name ? 0 : -1;
      }
    },
    enable() { for (const b of buttons()) b.disabled = false; },
    setModelLabel(label) {
      const b = bar.querySelector("button[data-scale='model']");
      if (b && label) b.textContent = label;
    },
  };
}

function moveFocus(e) {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  const buttons = [...e.currentTarget.querySelectorAll("button")];
  const i = buttons.indexOf(e.currentTarget.ownerDocument.activeElement);
  const n = buttons.length;
  const to = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: n - 1 }[e.key];
  if (to === undefined || i < 0) return;
  e.preventDefault();
  e.stopPropagation();
  const next = buttons[(to + n) % n];
  for (const b of buttons) b.tabIndex = b === next ? 0 : -1;
  next.focus();
}
