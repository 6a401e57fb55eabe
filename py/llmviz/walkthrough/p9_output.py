"""Phase 9, output: final layer norm, logits, softmax, choosing a token, the loss."""
from __future__ import annotations

from llmviz.walkthrough import Phase, Step, worked
from llmviz.walkthrough.linear_steps import linear_animation, linear_step
from llmviz.walkthrough.numbers import Walk

TEMPERATURES = (0.5, 2.0, 5.0)


def _ranked(w: Walk) -> list[int]:
    row = w.values(w.vec("probs", 0, w.t, "*"))
    return sorted(range(len(row)), key=lambda i: -row[i])


def _shown(w: Walk) -> list[int]:
    """Every token for a small vocabulary, else the three most likely."""
    return list(range(w.V)) if w.V <= 8 else _ranked(w)[:3]


def _listing(w: Walk, tensor: str) -> tuple:
    parts: list = []
    for n, i in enumerate(_shown(w)):
        value = w.prob(tensor, 0, w.t, i) if tensor == "probs" else w.act(tensor, 0, w.t, i)
        parts += ([", "] if n else []) + [w.tok(i), " ", value]
    if w.V > 8:
        parts.append(" " + w.say("words.top_three_of", V=w.V))
    return tuple(parts)


def _ln_f(w: Walk) -> dict:
    return {"mean": w.act("ln_f.mean", 0, w.t), "rstd": w.act("ln_f.rstd", 0, w.t)}


# the worked logit is the most likely token's
_LOGIT = linear_step("lm_head.weight", "ln_f", "logits", row=lambda w: _ranked(w)[0])


def _logits(w: Walk) -> dict:
    top = _ranked(w)[0]
    return {**_LOGIT["values"](w), "logit_list": _listing(w, "logits"), "top_tok": w.tok(top),
            **_tying(w, top)}


def _tying(w: Walk, k: int) -> dict:
    """Weight tying, on the numbers: row k of lm_head and row k of wte (the first three of each)."""
    n = min(3, w.C)
    return {"tied": w.tied(), "lm_row": [w.par("lm_head.weight", k, i) for i in range(n)],
            "wte_row": [w.par("wte.weight", k, i) for i in range(n)]}


def _probs(w: Walk) -> dict:
    return {"prob_list": _listing(w, "probs"), "mx": w.act("probs.max", 0, w.t),
            "total": w.act("probs.sum", 0, w.t)}


def _pick(w: Walk) -> dict:
    top = _ranked(w)[0]
    logits = w.vec("logits", 0, w.t, "*")
    v = {"top_tok": w.tok(top), "top_p": w.prob("probs", 0, w.t, top)}
    for k, temp in enumerate(TEMPERATURES):
        v[f"p{k}"] = w.op("softmax_t", logits, temperature=temp, i=top, style="prob")
        v[f"t{k}"] = f"{temp:g}"
    v["few_tokens"] = w.V <= 8
    return v


def _append(w: Walk) -> dict:
    top = _ranked(w)[0]
    return {"next_tok": w.tok(top), "new_input": w.text_of(w.ids + [top]),
            "answer_pos": w.T - w.input_len + 1,
            "in_answer": w.task == "sort" and w.input_len <= w.T < 2 * w.input_len,
            "last_letter": w.writes_last_letter()}


def _loss(w: Walk) -> dict:
    from llmviz.walkthrough.p0_intro import first_trained

    target = w.target()
    top = _ranked(w)[0]
    first = first_trained(w)
    v = {"top_tok": w.tok(top), "top_p": w.prob("probs", 0, w.t, top), "masked": first > 0,
         "first_trained": first, "last_trained": 2 * w.input_len - 2, "trained_here": w.t >= first}
    v["loss_top"] = w.op("neg", w.op("log", v["top_p"]))
    if target is not None:
        p = w.prob("probs", 0, w.t, target)
        v.update({"target_tok": w.tok(target), "p_target": p, "loss": w.op("neg", w.op("log", p)),
                  "right": target == top})
    return v


PHASE = Phase("output", [
    Step(
        id="ln_f",
        figure=worked.layer_norm(lambda w: f"h.{w.LL}.x", "ln_f", 4),

        values=_ln_f,
        focus=["h.{LL}.x", "ln_f.mean", "ln_f.rstd", "ln_f"],
        cells={"ln_f": ["col {t}"]},
        animation={"kind": "normalize", "block": "h.{LL}.x", "col": "{t}",
                   "stats": ["ln_f.mean", "ln_f.rstd"], "to": "ln_f"},
        code=["gpt.ln_f", "layernorm.forward", "layernorm.compute"],
    ),
    Step(
        id="logits",
        values=_logits,
        figure=_LOGIT["figure"],
        focus=_LOGIT["focus"],
        cells={"ln_f": ["col {t}"], "logits": ["col {t}"]},   # the whole column: every token's logit
        animation=linear_animation("lm_head.weight", "ln_f", "logits"),
        code=["gpt.lm_head", "gpt.tie"],
    ),
    Step(
        id="probs",
        figure=worked.softmax(worked.output_probs, worked.SOFTMAX_STAGES - 1),

        values=_probs,
        focus=["logits", "probs.max", "probs.sum", "probs"],
        cells={"probs": ["col {t}"]},
        animation={"kind": "softmax", "block": "probs", "col": "{t}", "max": "probs.max", "sum": "probs.sum"},
        code=["gpt.probs", "softmax.probs", "softmax.compute"],
    ),
    Step(
        id="choose",
        figure=worked.choose,

        values=_pick,
        focus=["logits", "probs"], cells={"probs": ["cell {next} {t}"]},
        animation={"kind": "pick", "from": "probs", "col": "{t}", "row": "{next}", "mode": "greedy"},
        code=["generate.temperature", "generate.top_k", "generate.probs", "generate.sample"],
    ),
    Step(
        id="append",
        values=_append,
        figure=worked.append_token,
        focus=["probs", "idx"], cells={"probs": ["cell {next} {t}"]},
        animation={"kind": "append", "token": "{next}", "to": "idx", "col": "{T}"},
        code=["generate.append", "gpt.generate"],
    ),
    Step(
        id="loss",
        values=_loss,
        focus=["probs"], cells=lambda w: {"probs": [f"cell {w.target()} {w.t}"]} if w.target() is not None else {},
        code=["gpt.loss"],
    ),
])
