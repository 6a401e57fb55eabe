"""Phase 0, intro: the task, tokens, weights and activations, one pass, the output fed back."""
from __future__ import annotations

from llmviz.walkthrough import Phase, Step
from llmviz.walkthrough.numbers import Walk


def _welcome(w: Walk) -> dict:
    v = {"n_params": f"{w.n_params():,}"}
    if w.task == "sort":
        letters = [w.vocab[i] for i in w.ids[:w.input_len]]
        v["prompt"] = w.text_of(w.ids[:w.input_len])
        v["answer"] = w.text_of(w.vocab.index(ch) for ch in sorted(letters))
        v["short"], v["n_in"], v["n_task"] = w.T < w.input_len, w.T, w.input_len
    return v


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def ordinal(n: int) -> str:
    """1 -> "first", ... 10 -> "tenth", then "11th" (and "21st", "22nd", ...)."""
    if 1 <= n <= len(_ORDINALS):
        return _ORDINALS[n - 1]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _pass(w: Walk) -> dict:
    """Where this input stands in the sort task: how many answer letters it already holds."""
    n = w.input_len
    written = max(0, w.T - n) if w.task == "sort" else 0
    return {"prompt": w.text_of(w.ids[:n]), "n_task": n, "written": w.text_of(w.ids[n:]),
            "n_written": written, "written_one": written == 1, "mid_answer": w.task == "sort" and written > 0,
            "pass_no": ordinal(written + 1)}   # the pass that writes answer letter number pass_no


def _tokens(w: Walk) -> dict:
    return {"ids": [w.idx(i) for i in range(w.T)], "vocab_list": _vocab_list(w), **_pass(w)}


def _vocab_list(w: Walk) -> tuple:
    shown = range(w.V) if w.V <= 12 else sorted(set(w.ids))
    parts: list = []
    for n, i in enumerate(shown):
        parts += ([", "] if n else []) + [w.tok(i), f" → {i}"]
    if w.V > 12:
        parts.append(f" (the tokens of this input; {w.V} in all)")
    return tuple(parts)


def _token_table(w: Walk) -> dict:
    rows = [[str(i), w.tok_at(i), w.idx(i)] for i in range(min(w.T, 16))]
    return {"head": ["position", "token", "index"], "rows": rows}


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
                     w.prob("probs", 0, t, top), "yes" if t >= first else "no: prompt"])
    return {"head": ["position", "token", "next token", "top prediction", "p", "trained"], "rows": rows}


def _feedback(w: Walk) -> dict:
    nxt = w.argmax_token(w.t)
    n = w.input_len
    answer = [w.vocab.index(ch) for ch in sorted(w.vocab[i] for i in w.ids[:n])] if w.T >= n else []
    return {"new_input": w.text_of(w.ids + [nxt]), "next_tok": w.tok(nxt), "T1": w.T + 1,
            "full": w.T >= w.block_size, "n_task": n, "n_fed": n - 1, "last_no": ordinal(n),
            # the sort task writes input_len letters: the pass after input_len-1 of them is the last
            "last_letter": w.task == "sort" and w.T == 2 * n - 1,
            "answer": w.text_of(w.ids[n:] + [nxt]) if w.T >= n else "",
            "sorted": w.text_of(answer), "right": w.ids[n:] + [nxt] == answer}


PHASE = Phase("intro", "Introduction", [
    Step(
        id="welcome",
        title="A whole GPT, small enough to see",
        text="""
        On this page runs a complete GPT: the same design as GPT-2 and nanoGPT,
        {{#if sort}}shrunk until{{else}}in a size where{{/if}} every number fits on screen.
        Its weights are {{n_params}} numbers.

        {{#if sort}}
        It was trained for one small job: read six letters, each **A**, **B** or **C**,
        and write the same six letters in alphabetical order. Its input now is
        {{prompt}}, {{#if short}}only {{n_in}} letters. It never saw so short an input
        in training, so there is no answer for it to write: what it predicts next is a
        guess it was never taught to make. Type {{n_task}} letters to see it sort.
        {{else}}so the answer it should write is {{answer}}.{{/if}}
        {{else}}
        Like every GPT it does one thing: given some text, it scores every possible
        next token. Its input now is {{input}}.
        {{/if}}

        {{#if sort & short}}The tour works on any input all the same: each step
        shows{{else}}Each step of this tour shows{{/if}} one part of the computation,
        with the real numbers of this {{#if sort & short}}one{{else}}input{{/if}}.
        Hover over an underlined name to find its block.
        """,
        values=_welcome,
        # the whole model, its two ends lit: the input's letters at the top, the answer at the bottom
        focus=["idx", "probs"], camera="overview", dim=None,
        annotate={"groups": False, "ops": False, "dims": False},
        code=["config", "gpt.forward", "gpt.flow"],
    ),
    Step(
        id="tokens",
        title="Text becomes numbers",
        text="""
        A GPT never sees letters, only numbers. Each token of its vocabulary has an
        index: {{vocab_list}}.

        So the input {{input}} enters the model as the list {{ids}}: the block
        [[idx|`idx`]] at the very top. Positions are counted from 0, so the last of the
        {{size:T}} positions is position {{t}}, which holds {{tok_t}} (index {{idx_t}}).
        {{#if mid_answer}}

        Why {{size:T}} tokens, when the task's input is {{n_task}} letters? The model
        writes its answer one letter per pass and feeds each letter back in (the last
        steps of this introduction show how). This page shows its {{pass_no}} pass: the
        input {{prompt}} followed by the {{n_written}}
        {{#if written_one}}letter{{else}}letters{{/if}} of the answer it has already
        written, {{written}}. This pass writes the {{pass_no}} letter.
        {{/if}}
        """,
        values=_tokens,
        table=_token_table,
        focus=["idx"], cells={"idx": ["all"]},
        code=["gpt.forward", "embedding.tok", "embedding.lookup"],
    ),
    Step(
        id="weights_activations",
        title="Weights and activations",
        text="""
        The picture holds two kinds of blocks. **Weights** (parameters) were set by
        training and stay the same whatever you type, like the token table
        [[wte.weight|`wte.weight`]]. **Activations** are computed afresh from your input
        on every run, like the input embedding [[x|`x`]]. The two kinds are drawn in
        different colours; inside a block, a cell's shade shows its value.

        Hover over any cell to read its number. For example, the first weight in the
        column of {{tok_t}} in the token table is {{w0}}, and the first activation of
        [[x|`x`]] at position {{t}} is {{x0}}.
        """,
        values=_two_kinds,
        focus=["wte.weight", "x"],
        cells={"wte.weight": ["cell 0 {k}"], "x": ["cell 0 {t}"]},
        code=["embedding.tok", "embedding.sum"],
    ),
    Step(
        id="one_pass",
        title="One pass, from top to bottom",
        text="""
        A forward pass runs down the picture. The tokens are looked up in two
        embedding tables, giving one column of {{dim:C}} numbers per position in
        [[x|`x`]]. These columns then pass through {{size:n_layer}} transformer blocks,
        each made of a layer norm, self-attention, another layer norm and an MLP.

        At the bottom, the output layer gives every token of the vocabulary a score,
        [[logits|`logits`]], and a softmax turns those scores into probabilities,
        [[probs|`probs`]].

        All positions travel down together, one column each. Only in attention do
        columns exchange information, and a position can only look at itself and at
        the positions before it.
        """,
        focus=lambda w: ["idx", "x"] + [f"h.{i}.{n}" for i in range(w.n_layer) for n in ("x_attn", "x")]
        + ["logits", "probs"], camera="overview", dim=None,   # the stream, top to bottom
        annotate={"groups": False, "dims": False},     # the stream's + badges as it runs down the spine
        animation=lambda w: {"kind": "flow", "path": w.forward_path()},
        code=["gpt.forward", "gpt.flow"],
    ),
    Step(
        id="read_output",
        title="Reading the answer",
        text="""
        What comes next is read from the last column of [[probs|`probs`]]: one
        probability per token. The model rates {{top_tok}} most likely, at {{top_p}};
        the runner-up is {{second_tok}} at {{second_p}}. So {{top_tok}} is its next
        token{{#if target & right}}, and it is the right one{{else if target}}, though the
        right one would be {{target_tok}}{{/if}}.

        {{#if masked}}
        The other columns hold the model's predictions for the earlier positions, but
        not all of them were trained. This model was trained with the targets of the
        prompt positions set to −1 (`y[:, :INPUT_LEN-1] = -1`), which the loss,
        `F.cross_entropy(..., ignore_index=-1)`, skips: only the predictions from position
        {{first_trained}} on, where the next token is a letter of the answer, were ever
        scored.{{#if all_untrained}} This input is too short to reach them: every column
        here is an untrained guess.{{else if guess}} The columns before are untrained
        guesses: position {{g_pos}} predicts {{g_tok}} with p = {{g_p}}, though the next
        token is {{g_next}}.{{else}} The columns before are untrained: nothing checked
        what they predict.{{/if}} The table shows every position.
        {{else}}
        The other columns hold the model's predictions for the earlier positions, each
        scored against the token that follows it in training; for writing only the last
        one counts.
        {{/if}}
        """,
        values=_top_two,
        table=_predictions_table,
        focus=["probs"], cells={"probs": ["col {t}"]},
        animation={"kind": "pick", "from": "probs", "col": "{t}", "row": "{next}", "mode": "greedy"},
        code=["gpt.generate", "generate.probs", "generate.greedy"],
    ),
    Step(
        id="feed_back",
        title="Feeding the answer back",
        text="""
        {{#if last_letter}}
        One pass gives one token. Here it is {{next_tok}}, the {{last_no}} and last
        letter of the answer: the model has written {{answer}}{{#if right}}, the input
        sorted{{/if}}, and the sort task stops. The earlier letters were written the same
        way: each pass appended the token it chose and ran the whole model again, on one
        more position. Repeating this is what *generating* means for a GPT.

        The last letter is never fed back in, so the model never needs more than
        {{dim:block_size}} positions: {{n_task}} letters of input and the first {{n_fed}}
        letters of its own answer.
        {{else}}
        One pass gives one token. To write the next, the chosen token {{next_tok}}
        is appended{{#if !full}}, giving {{new_input}},{{/if}} and the whole pass runs
        again{{#if !full}} on {{T1}} positions{{/if}}. Repeating this is what *generating*
        means for a GPT.

        {{#if sort}}
        After {{n_task}} passes all {{n_task}} letters of the answer are written and the
        task stops. The model never needs more than {{dim:block_size}} positions:
        {{n_task}} letters of input and at most {{n_fed}} of its own answer fed back.
        {{else if full}}
        The input already fills all {{dim:block_size}} positions the model can see, so
        the next pass drops the oldest token and keeps the last {{size:block_size}}.
        {{else}}
        The model can look back at most {{dim:block_size}} tokens; longer inputs are cut
        to their last {{size:block_size}} tokens.
        {{/if}}
        {{/if}}
        """,
        values=_feedback,
        focus=["probs", "idx"], cells={"probs": ["cell {next} {t}"]},
        animation={"kind": "append", "token": "{next}", "to": "idx", "col": "{T}"},
        code=["gpt.generate", "generate.append", "generate.crop"],
    ),
    Step(
        id="map",
        title="The tour ahead",
        text="""
        The rest of the tour follows one column through the model, part by part:

        - the sizes of the model,
        - the embedding that turns tokens into columns,
        - layer norm,
        - self-attention, and the softmax inside it,
        - the projection and the residual add,
        - the MLP,
        - the stack of blocks,
        - and the output: logits, probabilities, the chosen token.

        At every step the code panel shows {{#if nanogpt}}the lines of nanoGPT that do
        the work, next to the numpy lines that computed the numbers on screen.
        {{else}}the numpy lines that computed the numbers on screen. This copy of the
        page was built without nanoGPT's source; the panel's nanoGPT tab says how to
        add it.{{/if}}
        """,
        camera="overview", dim=None,
        annotate={"groups": True},                     # the parts named in the margins
        code=["gpt.forward", "gpt.flow"],
    ),
])
