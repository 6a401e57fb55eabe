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
        parts.append(f" (the top three of {w.V})")
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
            "last_letter": w.task == "sort" and w.T == 2 * w.input_len - 1}


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


PHASE = Phase("output", "Output", [
    Step(
        id="ln_f",
        title="A last layer norm",
        figure=worked.layer_norm(lambda w: f"h.{w.LL}.x", "ln_f", 4),
        text="""
        After the last block, the stream goes through one more layer norm,
        [[ln_f|`ln_f`]], with its own γ, [[ln_f.weight|`ln_f.weight`]]. At position
        {{t}}: mean {{mean}}, 1/√(σ² + ε) = {{rstd}}.
        """,
        values=_ln_f,
        focus=["h.{LL}.x", "ln_f.mean", "ln_f.rstd", "ln_f"],
        cells={"ln_f": ["col {t}"]},
        animation={"kind": "normalize", "block": "h.{LL}.x", "col": "{t}",
                   "stats": ["ln_f.mean", "ln_f.rstd"], "to": "ln_f"},
        code=["gpt.ln_f", "layernorm.forward", "layernorm.compute"],
    ),
    Step(
        id="logits",
        title="A score for every token",
        text="""
        The output layer [[lm_head.weight|`lm_head`]] has one row of {{size:C}} weights
        for each of the {{dim:V}} tokens. Each row's dot product with column {{t}} of
        `ln_f` is that token's score, its *logit*; for {{top_tok}}: {{expr}}.

        At position {{t}} the logits in [[logits|`logits`]] are {{logit_list}}. Higher
        means more likely, but logits are not probabilities yet: they can be negative
        and do not add up to 1.

        When it only has to write (no targets given), nanoGPT computes this for the last
        position alone, hence the shape `(1, 1, {{V}})` beside its code; the page
        computes every column so that you can compare them.

        {{#if tied}}
        The rows of `lm_head` are not weights of their own: nanoGPT *ties* them to the
        token embedding (its `__init__` assigns `lm_head.weight` to `wte.weight`, the line
        in the code panel), so both names hold one matrix and row k of `lm_head` is the
        embedding of token k. The row
        of {{top_tok}} in [[lm_head.weight|`lm_head`]] starts {{lm_row}}, …, exactly as its
        column of [[wte.weight|`wte`]] does ({{wte_row}}, …). A token scores high when the
        final column points along its own embedding.
        {{else}}
        In nanoGPT, `lm_head` is tied to the token embedding (its `__init__` assigns
        `lm_head.weight` to `wte.weight`, the line in the code panel): one matrix serves
        both.
        This model's weights keep them apart: the row of {{top_tok}} in
        [[lm_head.weight|`lm_head`]] starts {{lm_row}}, …, while its column of
        [[wte.weight|`wte`]] starts {{wte_row}}, … instead.
        {{/if}}
        """,
        values=_logits,
        figure=_LOGIT["figure"],
        focus=_LOGIT["focus"],
        cells={"ln_f": ["col {t}"], "logits": ["col {t}"]},   # the whole column: every token's logit
        animation=linear_animation("lm_head.weight", "ln_f", "logits"),
        code=["gpt.lm_head", "gpt.tie"],
    ),
    Step(
        id="probs",
        title="Probabilities",
        figure=worked.softmax(worked.output_probs, worked.SOFTMAX_STAGES - 1),
        text="""
        A softmax over each column turns the logits into probabilities,
        [[probs|`probs`]]: {{prob_list}} at position {{t}}. As before, the largest logit,
        {{mx}} ([[probs.max|`probs.max`]]), is subtracted first, and the exponentials,
        which add up to {{total}} ([[probs.sum|`probs.sum`]]), are divided by their sum.
        """,
        values=_probs,
        focus=["logits", "probs.max", "probs.sum", "probs"],
        cells={"probs": ["col {t}"]},
        animation={"kind": "softmax", "block": "probs", "col": "{t}", "max": "probs.max", "sum": "probs.sum"},
        code=["gpt.probs", "softmax.probs", "softmax.compute"],
    ),
    Step(
        id="choose",
        title="Choosing the next token",
        figure=worked.choose,
        text="""
        The simplest choice is the most likely token, {{top_tok}} at {{top_p}}{{#if sort}}.
        This *greedy* choice is the right one for sorting: there is exactly one correct
        next letter.

        For writing text, always taking the top token tends to repeat itself, so
        generators usually *sample*: draw a token at random with these probabilities.
        {{else}}: the *greedy* choice. Always taking the top token tends to repeat
        itself, so text generators usually *sample*: draw a token at random with these
        probabilities.

        {{/if}}
        Dividing the logits by a *temperature* first sharpens or flattens them: at
        temperature {{t0}} the top token's probability would be {{p0}}; at {{t1}},
        {{p1}}; at {{t2}}, {{p2}}.{{#if !sort}} Low temperatures make the model bolder in
        its favourite, high ones more adventurous.{{/if}}

        nanoGPT's `generate` can also keep only the `top_k` most likely tokens: every
        other logit is set to −∞ before the softmax, so sampling never picks an unlikely
        one{{#if few_tokens}} (with {{V}} tokens in all, there is little to cut here){{/if}}.
        Then `torch.multinomial` draws the next token from the probabilities.
        """,
        values=_pick,
        focus=["logits", "probs"], cells={"probs": ["cell {next} {t}"]},
        animation={"kind": "pick", "from": "probs", "col": "{t}", "row": "{next}", "mode": "greedy"},
        code=["generate.temperature", "generate.top_k", "generate.probs", "generate.sample"],
    ),
    Step(
        id="append",
        title="Append and run again",
        text="""
        The chosen token is appended: {{#if last_letter}}the sequence becomes
        {{new_input}}. {{next_tok}} is letter {{answer_pos}} of the sorted answer, the
        last one: the model has written all six and stops. For a longer text the whole
        forward pass would simply run again for every further token.{{else}}the input
        becomes {{new_input}}, and the whole forward pass runs again {{#if in_answer}}to
        find the next letter. {{next_tok}} is letter {{answer_pos}} of the sorted
        answer; the model keeps going until all six are written.{{else}}for the token
        after that, and so on for as many tokens as we want.{{/if}}{{/if}}
        """,
        values=_append,
        focus=["probs", "idx"], cells={"probs": ["cell {next} {t}"]},
        animation={"kind": "append", "token": "{next}", "to": "idx", "col": "{T}"},
        code=["generate.append", "gpt.generate"],
    ),
    Step(
        id="loss",
        title="How wrong was it?",
        text="""
        {{#if target}}
        Here we know what should come next: {{target_tok}}. The model gave it
        probability {{p_target}}. Training measures the miss with the cross-entropy
        loss, −log p = {{loss}}: 0 when the model is sure and right, growing without
        limit as p goes to 0.
        {{else}}
        When the right next token is known, as in training, the model is scored by
        the cross-entropy loss: −log of the probability it gave that token. Had
        {{top_tok}} been right, the loss would be −log {{top_p}} = {{loss_top}}: 0
        when the model is sure and right, growing without limit as that probability
        goes to 0.
        {{/if}}

        In training, nanoGPT's `forward` is given the targets and computes this loss
        itself: its logits go straight into `F.cross_entropy`, which applies the softmax
        inside, so `forward` never returns probabilities. {{#if masked}}For this model
        the loss covers the answer positions only, {{first_trained}} to {{last_trained}}
        of the sequence it was trained on, where the next token is a letter of the answer. The other
        targets are set to −1, which `ignore_index=-1` skips.{{#if !trained_here}} This
        position is not one of them: what it predicts was never scored.{{/if}}{{else}}It
        covers every position.{{/if}} Training averages the loss over those positions and
        many examples, and nudges every weight a little in the direction that lowers
        it.{{#if target}} That is all the learning there is.{{/if}}
        """,
        values=_loss,
        focus=["probs"], cells=lambda w: {"probs": [f"cell {w.target()} {w.t}"]} if w.target() is not None else {},
        code=["gpt.loss"],
    ),
])
