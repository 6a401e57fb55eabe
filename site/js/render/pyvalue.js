// Values that arrive from Python (through Pyodide) as plain JS values.

/** Proxies and Maps as plain JS arrays and objects (dicts become objects). */
export function plain(x) {
  if (x && typeof x.toJs === "function") x = x.toJs({ dict_converter: Object.fromEntries });
  if (x instanceof Map) x = Object.fromEntries(x);
  return x;
}

/** The same, and a JSON string parsed (Python may hand over a dict as json.dumps(...)). */
export function parsed(x) {
  x = plain(x);
  return typeof x === "string" ? JSON.parse(x) : x;
}
