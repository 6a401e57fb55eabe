// i18n.js: the page's words in the reader's language, before Python runs.
//
// The language is ?lang= when the build has that catalogue, else the first of the browser's
// languages (navigator.languages) it has (by the primary subtag: es-MX reads es, zh-CN zh),
// else English: index.html's inline script chooses it and asks for its catalogue as the page
// starts (window.llmvizLanguage). It is set here as <html lang>, which Python reads (app.py), so
// both sides speak one language. The words are py/llmviz/locales/<lang>.toml; build.py writes the
// keys the JavaScript needs (ui.*, notice.*, scene.*) to locales/<lang>.json and the list of
// languages into index.html (<script id="llmviz-locales">). This module awaits that JSON at the
// top level, so every module that imports it (boot.js, stage/*.js) paints its first frame in the
// language.
//
// Markup: data-i18n="key" sets an element's text; data-i18n-attr="title:key;aria-label:key"
// sets attributes. translate(root) applies both (boot.js runs it on the <template>s, so the
// views' clones are translated too). t(key, {name: value}) fills {{name}} as Python's fill does.

const DEFAULT = "en";

// chosen by index.html's inline script as the page starts (it fetches the catalogue at once); a
// page without it (site/dev/*.html, unbuilt) speaks English from its markup and asks for nothing
const early = window.llmvizLanguage || { lang: DEFAULT, known: {}, catalogue: Promise.resolve({}) };

export const languages = Object.keys(early.known).length ? early.known : { [DEFAULT]: "English" };
export const lang = early.lang;
document.documentElement.lang = lang === "zh" ? "zh-Hans" : lang;
document.documentElement.dataset.lang = lang;

const table = (await early.catalogue).text || {};

export function has(key) { return Object.hasOwn(table, key); }

export function t(key, values = {}, fallback = key) {
  const text = has(key) ? table[key] : fallback;
  if (typeof text !== "string") return text;
  return text.replace(/\{\{\s*([A-Za-z_]\w*)\s*\}\}/g, (m, name) => (name in values ? String(values[name]) : m));
}

// words made of words: {key, values} where a value may be {key, values} too (the 3D view's
// block labels, llmviz.viz.layout.words; Python's layout.label_text does the same)
export function say(words, fallback = "") {
  if (!words || typeof words !== "object" || typeof words.key !== "string") return fallback;
  const values = {};
  for (const [name, value] of Object.entries(words.values || {})) {
    values[name] = value && typeof value === "object" ? say(value, "") : value;
  }
  return has(words.key) ? t(words.key, values) : fallback;
}

export function translate(root) {
  const each = (selector, fn) => {
    if (root.matches && root.matches(selector)) fn(root);
    for (const el of root.querySelectorAll(selector)) fn(el);
  };
  each("[data-i18n]", (el) => { if (has(el.dataset.i18n)) el.textContent = table[el.dataset.i18n]; });
  each("[data-i18n-attr]", (el) => {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":").map((s) => s.trim());
      if (attr && has(key)) el.setAttribute(attr, table[key]);
    }
  });
  for (const tpl of root.querySelectorAll("template")) translate(tpl.content);
}

// the same page in another language: ?lang= set, the hash (the step, the camera) kept
export function urlFor(code) {
  const url = new URL(location.href);
  url.searchParams.set("lang", code);
  return url.href;
}
