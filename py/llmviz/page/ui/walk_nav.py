"""The walkthrough's navigation logic, without the DOM: where the tour is, where Next
goes, what a deep link says, and which embedding pages may send commands.

Pure Python (no js, no numpy), so it is tested in CPython (``tests/test_walk_nav.py``);
``walk_view`` wires it to the page.

Deep links name a view in the URL hash by the ids of its phase and step:
``#phase=attention&step=scaling`` (what the page writes, and what ``llmviz.goto({phase,
step})`` and ``llmviz.state()`` use). A link may give numbers instead, counted as the page
shows them, from 1: ``step=4`` is the step the page calls "step 4 of 11" (``LINK_BASE``;
the JS API's numbers are indexes from 0, as ``state().step_index``). Anything else (a step
id the phase lacks, a number out of range, ``0``, ``3.5``, ``Infinity``) opens the phase's
first step and says so. The hash adds ``&layer=L&head=h`` when the reader
follows another layer or head than 0 and 0, ``&input=CABBAC`` when the page runs the
default model on another input than its example (so a shared link shows the same
numbers), and ``&cam=px,py,pz,tx,ty,tz`` when the reader moved the camera away from the
step's own view. The query string configures
an embedded page: ``embed=1`` (compact layout: the step, its notes and code, prev/next),
``controls=1`` (an embed with the input bar, the scale buttons and the animation controls
too; boot.js reads it as this module does), ``lock=1`` (one step, no navigation),
``phase=`` / ``step=`` / ``layer=`` / ``head=`` / ``input=`` (the start), ``origin=``
(repeatable or comma-separated: the pages allowed to send commands), ``lang=`` (the language:
js/i18n.js reads it before Python, and the link from an embed to the full page keeps it;
the hash links stay in the query's language, since they change only the hash).
"""
from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
from urllib.parse import parse_qsl, quote, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


# ------------------------------------------------------------------ the tour

@dataclasses.dataclass(frozen=True)
class Where:
    """A step of the tour: its phase's id, its index in the phase (from 0) and its id."""
    phase: str
    step: int
    id: str


_NUMBER = re.compile(r"[0-9]{1,6}")   # a step or phase number as a link writes it
LINK_BASE = 1   # a number in a link counts from 1, as "step 4 of 11" does; the API's from 0


def _shown(value) -> str:
    """``value`` for a message, cut short (a link may carry anything)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:36] + "…" + text[-1]


def _whole(value, what: str) -> int:
    """A finite whole number given as int or float (JSON numbers arrive as either)."""
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError(f"{what} must be a whole number, not {_shown(value)}")
        return int(value)
    return value


class Tour:
    """The phases and steps in reading order (from ``walkthrough.phases()``)."""

    def __init__(self, phases: list[dict]):
        if not phases:
            raise ValueError("the walkthrough has no phases")
        self.phases = [dict(p) for p in phases]
        self.order = [Where(p["id"], i, step_id) for p in self.phases for i, step_id in enumerate(p["step_ids"])]
        self._flat = {w: n for n, w in enumerate(self.order)}

    def __len__(self) -> int:
        return len(self.order)

    def phase(self, phase_id: str) -> dict:
        for p in self.phases:
            if p["id"] == phase_id:
                return p
        known = ", ".join(p["id"] for p in self.phases)
        raise ValueError(f"no walkthrough phase {_shown(phase_id)}; the phases are {known}")

    def where(self, phase_id: str, step: int) -> Where:
        """Step number ``step`` of a phase."""
        return Where(phase_id, step, self.phase(phase_id)["step_ids"][step])

    def resolve(self, phase, step=None, *, base: int = 0) -> Where:
        """A position from what a caller wrote: a phase id (or number) and a step id (or
        number in the phase, counted from ``base``: 0 for the API, ``LINK_BASE`` for links);
        a missing step means the phase's first. Raises ValueError with a readable message for
        anything else (never another error)."""
        p = self._phase_of(phase, base)
        if step is None or step == "":
            return self.where(p["id"], 0)
        return self.where(p["id"], self._step_of(p, step, base))

    def _phase_of(self, phase, base: int = 0) -> dict:
        if isinstance(phase, bool) or phase is None or phase == "":
            raise ValueError("say which phase: goto({phase: 'attention', step: 'scaling'})")
        if isinstance(phase, str) and _NUMBER.fullmatch(phase.strip()):
            phase = int(phase)
        if isinstance(phase, (int, float)):
            n = _whole(phase, "a phase number")
            if not base <= n < len(self.phases) + base:
                raise ValueError(f"phase number {n} is out of range {base}..{len(self.phases) - 1 + base}")
            return self.phases[n - base]
        if not isinstance(phase, str):
            raise ValueError(f"phase must be a phase id or a number, not {_shown(phase)}")
        return self.phase(phase.strip())

    def _step_of(self, p: dict, step, base: int = 0) -> int:
        """The index (from 0) of ``step`` (an id of phase ``p``, or a number in range counted
        from ``base``) in ``p``."""
        ids = list(p["step_ids"])
        if isinstance(step, str):
            s = step.strip()
            if s in ids:
                return ids.index(s)
            if not _NUMBER.fullmatch(s):
                raise ValueError(f"phase {p['id']!r} has no step {_shown(s)}; its steps are {', '.join(ids)}")
            step = int(s)
        if isinstance(step, bool) or not isinstance(step, (int, float)):
            raise ValueError(f"step must be a number or a step id, not {_shown(step)}")
        n = _whole(step, "a step number")
        if not base <= n < len(ids) + base:
            raise ValueError(f"phase {p['id']!r} has steps {base}..{len(ids) - 1 + base} ({', '.join(ids)}), not {n}")
        return n - base

    def resolve_nearest(self, phase, step=None) -> tuple[Where, str | None]:
        """For links (numbers from ``LINK_BASE``): ``resolve``, but what it refuses still opens a
        step: a known phase with a step it does not have (an unknown id, a number out of range or
        not whole) its first step, an unknown phase the tour's first; the second item says what
        was wrong."""
        try:
            return self.resolve(phase, step, base=LINK_BASE), None
        except ValueError as e:
            problem = str(e)
        try:
            return self.resolve(phase, None, base=LINK_BASE), problem
        except ValueError:
            return self.first(), problem

    def index(self, where: Where) -> int:
        return self._flat[where]

    def at(self, n: int) -> Where:
        return self.order[max(0, min(len(self.order) - 1, int(n)))]

    def next(self, where: Where) -> Where | None:
        n = self.index(where) + 1
        return self.order[n] if n < len(self.order) else None

    def prev(self, where: Where) -> Where | None:
        n = self.index(where) - 1
        return self.order[n] if n >= 0 else None

    def first(self) -> Where:
        return self.order[0]


# ------------------------------------------------------------------ URLs

def _num(v: float) -> str:
    text = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_hash(where: Where, cam: dict | None = None, follow: dict | None = None,
                input_text: str | None = None) -> str:
    """``#phase=attention&step=scaling`` (with ``&layer=&head=`` for a layer or head other than 0,
    ``&input=`` for an input other than the example, and ``&cam=...`` for a camera of the
    reader's own)."""
    out = f"#phase={quote(where.phase, safe='')}&step={quote(where.id, safe='')}"
    for key in ("layer", "head"):
        if follow and follow.get(key):
            out += f"&{key}={int(follow[key])}"
    if input_text:
        out += f"&input={quote(input_text, safe='')}"
    if cam:
        out += "&cam=" + ",".join(_num(v) for v in list(cam["position"]) + list(cam["target"]))
    return out


def parse_cam(text: str) -> dict | None:
    """``px,py,pz,tx,ty,tz`` -> {position, target}; None if it is not six finite numbers."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        return None
    if len(values) != 6 or not all(math.isfinite(v) for v in values):
        return None
    return {"position": values[:3], "target": values[3:]}


def parse_hash(hash_: str) -> dict:
    """``#phase=attention&step=scaling&layer=1&head=2&input=ACB&cam=...`` -> {"phase", "step",
    "follow", "input", "cam"} (None when absent). ``step`` stays a string (a step id or a
    number): ``Tour.resolve`` reads it; ``follow`` is ``{"layer", "head"}`` with the values as written (strings),
    checked against the model by ``walkthrough.follow_of``."""
    text = (hash_ or "").lstrip("#")
    fields = dict(parse_qsl(text, keep_blank_values=True))
    cam = parse_cam(fields["cam"]) if fields.get("cam") else None
    return {"phase": fields.get("phase") or None, "step": fields.get("step") or None,
            "follow": _follow_fields(fields), "input": fields.get("input") or None, "cam": cam}


def _follow_fields(fields: dict) -> dict | None:
    follow = {key: fields[key] for key in ("layer", "head") if fields.get(key)}
    return follow or None


_TRUE = {"1", "true", "yes", "on", ""}


def parse_query(search: str) -> dict:
    """The embedding options of ``location.search``: embed, lock, controls, phase, step, follow,
    input, lang, origins."""
    pairs = parse_qsl((search or "").lstrip("?"), keep_blank_values=True)
    fields: dict[str, str] = {}
    origins: list[str] = []
    for key, value in pairs:
        if key == "origin":
            origins.extend(v.strip() for v in value.split(",") if v.strip())
        else:
            fields[key] = value
    flag = lambda key: key in fields and fields[key].lower() in _TRUE  # noqa: E731
    return {"embed": flag("embed"), "lock": flag("lock"), "controls": flag("controls"),
            "phase": fields.get("phase") or None, "step": fields.get("step") or None,
            "follow": _follow_fields(fields), "input": fields.get("input") or None,
            "lang": fields.get("lang") or None, "origins": origins}


_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _host(host: str) -> str | None:
    """A host as ``event.origin`` writes it (a DNS name of letters, digits and hyphens, an
    IPv4 or [IPv6] address), or None for anything else (spaces, %-escapes, empty labels)."""
    if ":" in host:
        try:
            return f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            return None
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in host.split(".")):
        return None
    return host


def normalize_origin(text: str) -> str | None:
    """An origin as a browser writes ``event.origin``: scheme and host lower-cased, the
    default port and any path dropped (scheme ``HTTPS``, host ``Host``, port 443, path ``/p``
    give scheme ``https`` and host ``host``). Only http(s) origins with a well-formed host and
    port; "null" and "*" are refused (a sandboxed or file:// page, or any page at all, must never
    drive this one), and so is a user name before the host (``https://`` good.example ``@`` evil.example
    is evil.example). Anything malformed is None: it never enters the allow list."""
    text = (text or "").strip()
    if not text or text in ("null", "*") or not text.isascii() or any(ch.isspace() for ch in text):
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    host = _host(parts.hostname.lower())
    if host is None:
        return None
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host += f":{port}"
    return f"{scheme}://{host}"


def allowed_origins(query_origins: list[str], build_origins: list[str] | None,
                    own_origin: str | None = None) -> list[str]:
    """The origins whose messages are obeyed: ``?origin=`` values, the build's
    ``embed_origins``, and this page's own origin (a same-origin parent can script the
    frame directly anyway). Invalid entries are dropped."""
    out: list[str] = []
    for text in list(query_origins) + list(build_origins or []) + ([own_origin] if own_origin else []):
        origin = normalize_origin(text)
        if origin and origin not in out:
            out.append(origin)
    return out


def is_allowed(origin: str, allowed: list[str]) -> bool:
    """Does a message's ``event.origin`` belong to the allow list? Exact match only."""
    return bool(origin) and origin not in ("null", "*") and origin in allowed


def full_page_url(pathname: str, where: Where, follow: dict | None = None,
                  input_text: str | None = None, lang: str | None = None) -> str:
    """The link from an embedded view to the full page at the same step (no embed options; the
    language, ``?lang=``, when the embed names one)."""
    name = pathname.rsplit("/", 1)[-1] or "index.html"
    query = f"?lang={quote(lang, safe='')}" if lang else ""
    return f"./{quote(name)}{query}{format_hash(where, follow=follow, input_text=input_text)}"


def link_input(search: str, hash_: str) -> str | None:
    """The input a link asks for: ``&input=`` in the hash, else ``?input=`` in the query."""
    return parse_hash(hash_)["input"] or parse_query(search)["input"]


# ------------------------------------------------------------------ key bindings

NEXT_KEYS = {" ", "ArrowRight", "ArrowDown", "PageDown"}
PREV_KEYS = {"ArrowLeft", "ArrowUp", "PageUp"}
ARROWS = {"ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"}
TYPING_TAGS = {"INPUT", "TEXTAREA", "SELECT"}


def key_action(key: str, *, shift: bool = False, ctrl: bool = False, alt: bool = False,
               meta: bool = False, target_tag: str = "", editable: bool = False,
               in_canvas: bool = False, on_button: bool = False) -> str | None:
    """"next", "prev" or None for a keydown. Keys are left alone while the reader types,
    with modifier keys (browser shortcuts), on a focused button (Space presses it), and,
    for arrows, while the 3D canvas has focus (the camera uses them there)."""
    if ctrl or alt or meta or editable or target_tag.upper() in TYPING_TAGS:
        return None
    if key in ARROWS and in_canvas:
        return None
    if key == " " and on_button:
        return None
    if key == " ":
        return "prev" if shift else "next"
    if shift and key in ARROWS:
        return None  # Shift+arrows orbit the camera; never step on them
    if key in NEXT_KEYS:
        return "next"
    if key in PREV_KEYS:
        return "prev"
    return None


# ------------------------------------------------------------------ motion

SPEEDS = (0.5, 1.0, 1.5, 2.0, 4.0)


def motion(speed: float = 1.0, paused: bool = False, reduced: bool = False) -> dict:
    """The animation settings the scene view plays by (``app.motion``)."""
    speed = float(speed)
    if not math.isfinite(speed):
        speed = 1.0
    return {"speed": min(4.0, max(0.5, speed)), "paused": bool(paused), "reduced": bool(reduced)}
