"""Phase 0, intro: the task, tokens, weights and activations, one pass, the output fed back."""
from __future__ import annotations

from llmviz.walkthrough import Phase, Step
from llmviz.walkthrough import worked
from llmviz.walkthrough.numbers import Walk


def _welcome(w: Walk) -> dict:
    v = {"n_params": w.words.number(w.n_params())}
    if w.task == "sort":
        letters = [w.vocab[i] for i in w.ids[:w.input_len]]
        v["prompt"] = w.text_of(w.ids[:w.input_len])
        v["answer"] = w.text_of(w.vocab.index(ch) for ch in sorted(letters))
        v["short"], v["n_in"], v["n_task"] = w.T < w.input_len, w.T, w.input_len
    return v


def ordinal(w: Walk, n: int) -> str:
    """1 -> "first", ... 10 -> "tenth" (in the walk's language), then "11th"."""
    names = w.words.words("words.ordinals")
    return names[n - 1] if 1 <= n <= len(names) else w.say("words.ordinal_n", n=n)


def _pass(w: Walk) -> dict:
    """Where this input stands in the sort task: how many answer letters it already holds."""
    n = w.input_len
    written = max(0, w.T - n) if w.task == "sort" else 0
    return {"prompt": w.text_of(w.ids[:n]), "n_task": n, "written": w.text_of(w.ids[n:]),
            "n_written": written, "written_one": written == 1, "mid_answer": w.task == "sort" and written > 0,
            "pass_no": ordinal(w, written + 1)}   # the pass that writes answer letter number pass_no


def _tokens(w: Walk) -> dict:
    return {"ids": [w.idx(i) for i in range(w.T)], "vocab_list": _vocab_list(w), **_pass(w)}


def _vocab_list(w: Walk) -> tuple:
    shown = range(w.V) if w.V <= 12 else sorted(set(w.ids))
    parts: list = []
    for n, i in enumerate(shown):
        parts += ([", "] if n else []) + [w.tok(i), f" → {i}"]
    if w.V > 12:
        parts.append(" " + w.say("words.vocab_of_input", V=w.V))
    return tuple(parts)


def _token_table(w: Walk) -> dict:
    rows = [[str(i), w.tok_at(i), w.idx(i)] for i in range(min(w.T, 16))]
    return {"head": w.words.words("intro.tokens.table"), "rows": rows}


def _two_kinds(w: Walk) -> dict:
    return {"w0": w.par("wte.weight", w.ids[w.t], 0), "x0": w.act("x", 0, w.t, 0)}


def _top_two(w: Walk) -> dict:
    row = w.values(w.vec("probs", 0, w.t, "*"))
    order = sorted(range(len(row)), key=lambda i: -row[i])
    top, second = order[0], order[1] if len(order) > 1 else order[0]
    v = {"top_tok": w.tok(top), "top_p": w.prob("probs", 0, w.t, top),
         "second_tok": w.tok(second), "second_p": w.prob("probs", 0, w.t, second)}
    target = w.target()
    if target is not None:
        v["target_tok"] = w.tok(target)
        v["right"] = target == top
    v.update(_trained(w))
    return v


def first_trained(w: Walk) -> int:
    """The first position whose prediction training scored. The sort model's train.py sets
    the targets of the prompt positions to -1 (``y[:, :INPUT_LEN-1] = -1``), which
    ``F.cross_entropy(..., ignore_index=-1)`` skips: only positions input_len-1 and on,
    whose next token is a letter of the answer, were trained. Any other model: all of them."""
    return w.input_len - 1 if w.task == "sort" else 0


def _trained(w: Walk) -> dict:
    """What the earlier columns of probs are: trained predictions, or untrained guesses."""
    first = first_trained(w)
    v: dict = {"masked": first > 0, "first_trained": first, "last_untrained": first - 1,
               "all_untrained": w.T <= first, "one_untrained": first == 1}
    # an untrained position whose top prediction is not the token that follows it
    for t in range(min(first, w.T - 1)):
        top = w.argmax_token(t)
        if top != w.ids[t + 1]:
            v.update({"guess": True, "g_pos": t, "g_tok": w.tok(top), "g_p": w.prob("probs", 0, t, top),
                      "g_next": w.tok_at(t + 1)})
            break
    else:
        v["guess"] = False
    return v


def _predictions_table(w: Walk) -> dict:
    """Each position's top prediction, beside the token that follows it, and whether
    training scored that position."""
    first = first_trained(w)
    target = w.target()
    rows = []
    for t in range(min(w.T, 16)):
        top = w.argmax_token(t)
        nxt = w.ids[t + 1] if t + 1 < w.T else target
        rows.append([str(t), w.tok_at(t), w.tok(nxt) if nxt is not None else "?", w.tok(top),
                     w.prob("probs", 0, t, top),
                     w.say("words.yes") if t >= first else w.say("words.no_prompt")])
    return {"head": w.words.words("intro.read_output.table"), "rows": rows}


def _feedback(w: Walk) -> dict:
    nxt = w.argmax_token(w.t)
    n = w.input_len
    answer = [w.vocab.index(ch) for ch in sorted(w.vocab[i] for i in w.ids[:n])] if w.T >= n else []
    return {"new_input": w.text_of(w.ids + [nxt]), "next_tok": w.tok(nxt), "T1": w.T + 1,
            "full": w.T >= w.block_size, "n_task": n, "n_fed": n - 1, "last_no": ordinal(w, n),
            "last_letter": w.writes_last_letter(),
            "answer": w.text_of(w.ids[n:] + [nxt]) if w.T >= n else "",
            "sorted": w.text_of(answer), "right": w.ids[n:] + [nxt] == answer}


PHASE = Phase("intro", [
    Step(
        id="welcome",
        values=_welcome,
        # the whole model, its two ends lit: the input's letters at the top, the answer at the bottom
        focus=["idx", "probs"], camera="overview", dim=None,
        annotate={"groups": False, "ops": False, "dims": False},
        code=["config", "gpt.forward", "gpt.flow"],
    ),
    Step(
        id="tokens",
        values=_tokens,
        table=_token_table,
        focus=["idx"], cells={"idx": ["all"]},
        code=["gpt.forward", "embedding.tok", "embedding.lookup"],
    ),
    Step(
        id="weights_activations",
        values=_two_kinds,
        focus=["wte.weight", "x"],
        cells={"wte.weight": ["cell 0 {k}"], "x": ["cell 0 {t}"]},
        code=["embedding.tok", "embedding.sum"],
    ),
    Step(
        id="one_pass",
        focus=lambda w: ["idx", "x"] + [f"h.{i}.{n}" for i in range(w.n_layer) for n in ("x_attn", "x")]
        + ["logits", "probs"], camera="overview", dim=None,   # the stream, top to bottom
        annotate={"groups": False, "dims": False},     # the stream's + badges as it runs down the spine
        animation=lambda w: {"kind": "flow", "path": w.forward_path()},
        code=["gpt.forward", "gpt.flow"],
    ),
    Step(
        id="read_output",
        values=_top_two,
        table=_predictions_table,
        focus=["probs"], cells={"probs": ["col {t}"]},
        animation={"kind": "pick", "from": "probs", "col": "{t}", "row": "{next}", "mode": "greedy"},
        code=["gpt.generate", "generate.probs", "generate.greedy"],
    ),
    Step(
        id="feed_back",
        values=_feedback,
        figure=worked.append_token,
        focus=["probs", "idx"], cells={"probs": ["cell {next} {t}"]},
        animation={"kind": "append", "token": "{next}", "to": "idx", "col": "{T}"},
        code=["gpt.generate", "generate.append", "generate.crop"],
    ),
    Step(
        id="map",
        camera="overview", dim=None,
        annotate={"groups": True},                     # the parts named in the margins
        code=["gpt.forward", "gpt.flow"],
    ),
])
