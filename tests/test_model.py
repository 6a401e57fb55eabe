"""The numpy port against PyTorch's own operators, on the same random weights."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from llmviz.core.model import GPT, GPTConfig, _erf, gelu  # noqa: E402
from llmviz.core.trace import trace_shapes  # noqa: E402

SORT = GPTConfig(block_size=11, vocab_size=3, n_layer=3, n_head=3, n_embd=48)
WIDE = GPTConfig(block_size=32, vocab_size=65, n_layer=2, n_head=4, n_embd=64, bias=False)
TOL = 1e-5


def random_model(config: GPTConfig, seed: int = 0, scale: float = 0.1) -> GPT:
    rng = np.random.default_rng(seed)
    state = {}
    for name, ref in GPT(config).state_dict().items():
        state[name] = (rng.standard_normal(ref.shape) * scale).astype(np.float32)
        if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            state[name] += 1.0
    return GPT.from_state_dict(state, config)


def torch_reference(model: GPT, idx: np.ndarray) -> dict:
    """The forward pass written with torch.nn.functional, tensor by tensor."""
    cfg = model.config
    sd = {k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()}
    t = lambda name: sd.get(name)  # noqa: E731
    idx_t = torch.from_numpy(idx)
    B, T = idx.shape
    C, nh = cfg.n_embd, cfg.n_head
    out = {}
    out["tok_emb"] = F.embedding(idx_t, t("transformer.wte.weight"))
    out["pos_emb"] = F.embedding(torch.arange(T), t("transformer.wpe.weight"))
    x = out["x"] = out["tok_emb"] + out["pos_emb"]

    def ln(name, inp, prefix):
        out[name] = F.layer_norm(inp, (C,), t(prefix + ".weight"), t(prefix + ".bias"), 1e-5)
        var, mean = torch.var_mean(inp, dim=-1, unbiased=False)
        out[name + ".mean"], out[name + ".rstd"] = mean, 1.0 / torch.sqrt(var + 1e-5)
        return out[name]

    for i in range(cfg.n_layer):
        p, sp = f"h.{i}.", f"transformer.h.{i}."
        h = ln(p + "ln_1", x, sp + "ln_1")
        qkv = out[p + "attn.qkv"] = F.linear(h, t(sp + "attn.c_attn.weight"), t(sp + "attn.c_attn.bias"))
        q, k, v = (a.view(B, T, nh, C // nh).transpose(1, 2) for a in qkv.split(C, dim=2))
        out[p + "attn.q"], out[p + "attn.k"], out[p + "attn.v"] = q, k, v
        scores = out[p + "attn.scores"] = q @ k.transpose(-2, -1) / math.sqrt(C // nh)
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
        att = out[p + "attn.att"] = F.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out[p + "attn.head_out"] = y
        y = out[p + "attn.y"] = y.transpose(1, 2).reshape(B, T, C)
        out[p + "attn.out"] = F.linear(y, t(sp + "attn.c_proj.weight"), t(sp + "attn.c_proj.bias"))
        x = out[p + "x_attn"] = x + out[p + "attn.out"]
        h = ln(p + "ln_2", x, sp + "ln_2")
        fc = out[p + "mlp.fc"] = F.linear(h, t(sp + "mlp.c_fc.weight"), t(sp + "mlp.c_fc.bias"))
        g = out[p + "mlp.gelu"] = F.gelu(fc, approximate="tanh" if cfg.gelu == "tanh" else "none")
        out[p + "mlp.out"] = F.linear(g, t(sp + "mlp.c_proj.weight"), t(sp + "mlp.c_proj.bias"))
        x = out[p + "x"] = x + out[p + "mlp.out"]
        # sanity: attention weights times v is what SDPA computed
        assert torch.allclose(att @ v, out[p + "attn.head_out"], atol=1e-5)
    h = ln("ln_f", x, "transformer.ln_f")
    logits = out["logits"] = F.linear(h, t("lm_head.weight"))
    out["probs"] = F.softmax(logits, dim=-1)
    return {k: v.numpy() for k, v in out.items()}


@pytest.mark.parametrize("config,B,T", [(SORT, 1, 11), (SORT, 3, 6), (WIDE, 2, 32),
                                        (GPTConfig(block_size=16, vocab_size=10, n_layer=1, n_head=2,
                                                   n_embd=8, gelu="tanh"), 2, 9)])
def test_every_traced_tensor_matches_torch(config, B, T):
    model = random_model(config, seed=B * 100 + T)
    idx = np.random.default_rng(T).integers(0, config.vocab_size, size=(B, T))
    trace = model.trace(idx)
    ref = torch_reference(model, idx)
    assert set(ref) <= set(trace)
    for name, want in ref.items():
        got = trace[name]
        assert got.shape == want.shape, name
        assert got.dtype == np.float32, name
        assert np.abs(got - want).max() <= TOL, (name, float(np.abs(got - want).max()))
    np.testing.assert_allclose(model(idx), ref["logits"], atol=TOL, rtol=0)


def test_trace_names_and_shapes_are_documented_in_one_place():
    model = random_model(SORT)
    trace = model.trace(np.zeros((2, 7), dtype=np.int64))
    assert trace.shapes() == trace_shapes(SORT, B=2, T=7)
    assert list(trace) == list(trace_shapes(SORT, B=2, T=7))  # forward order


def test_softmax_aggregates_recompute_the_attention():
    model = random_model(SORT, seed=3)
    tr = model.trace(np.array([[2, 1, 0, 1, 1, 2]]))
    scores, att = tr["h.1.attn.scores"], tr["h.1.attn.att"]
    T = scores.shape[-1]
    masked = np.where(np.tril(np.ones((T, T), bool)), scores, -np.inf)
    np.testing.assert_allclose(tr["h.1.attn.att.max"], masked.max(-1), atol=1e-6)
    np.testing.assert_allclose(np.exp(masked - tr["h.1.attn.att.max"][..., None]) / tr["h.1.attn.att.sum"][..., None],
                               att, atol=1e-6)
    assert np.all(np.triu(att[0, 0], 1) == 0)


def test_erf_is_accurate_to_1e_6():
    xs = np.linspace(-6, 6, 20001).astype(np.float32)
    want = np.array([math.erf(float(v)) for v in xs])
    assert np.abs(_erf(xs).astype(np.float64) - want).max() < 1e-6


@pytest.mark.parametrize("form", ["erf", "tanh"])
def test_gelu_matches_torch(form):
    xs = np.linspace(-8, 8, 4001).astype(np.float32)
    want = F.gelu(torch.from_numpy(xs), approximate="none" if form == "erf" else "tanh").numpy()
    np.testing.assert_allclose(gelu(xs, form), want, atol=1e-6, rtol=1e-6)


def test_generate_greedy_extends_with_argmax_and_crops_context():
    model = random_model(GPTConfig(block_size=4, vocab_size=5, n_layer=1, n_head=1, n_embd=8), seed=7)
    out = model.generate(np.array([[1, 2, 3]]), 5, temperature=0)
    assert out.shape == (1, 8)
    for n in range(3, 8):  # every new token is the argmax given the last block_size tokens
        context = out[:, max(0, n - 4):n]
        assert out[0, n] == model(context)[0, -1].argmax()


def test_generate_sampling_respects_top_k_and_seed():
    model = random_model(GPTConfig(block_size=8, vocab_size=6, n_layer=1, n_head=2, n_embd=8), seed=1, scale=1.0)
    a = model.generate(np.array([[0]]), 6, temperature=1.0, top_k=1, rng=np.random.default_rng(0))
    greedy = model.generate(np.array([[0]]), 6, temperature=0)
    assert np.array_equal(a, greedy)  # top_k=1 leaves only the argmax
    s1 = model.generate(np.array([[0]]), 7, temperature=2.0, rng=np.random.default_rng(5))
    s2 = model.generate(np.array([[0]]), 7, temperature=2.0, rng=np.random.default_rng(5))
    assert np.array_equal(s1, s2)


def test_forward_refuses_sequences_longer_than_block_size():
    model = random_model(SORT)
    with pytest.raises(ValueError, match="block size is only 11"):
        model(np.zeros((1, 12), dtype=np.int64))


@pytest.mark.parametrize("bad", [dict(n_embd=50, n_head=3), dict(gelu="relu"), dict(n_layer=0)])
def test_config_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        GPTConfig(**{**SORT.to_dict(), **bad})


def test_linear_is_the_same_through_einsum_as_through_matmul(monkeypatch):
    """The page's numpy (no BLAS) computes a Linear with einsum, CPython's with matmul: the
    same sums, in another order, so the same logits to float32 rounding."""
    from llmviz.core import model as port

    config = port.GPTConfig(block_size=16, vocab_size=11, n_layer=2, n_head=2, n_embd=32)
    rng = np.random.default_rng(7)
    state = {k: (rng.standard_normal(v.shape) * 0.3).astype(np.float32)
             for k, v in port.GPT(config).state_dict().items() if k != "lm_head.weight"}
    gpt = port.GPT.from_state_dict(state, config)
    ids = rng.integers(0, 11, size=(2, 16))
    outs = {}
    for no_blas in (False, True):
        monkeypatch.setattr(port, "NO_BLAS", no_blas)
        outs[no_blas] = gpt(ids)
    assert outs[True].dtype == outs[False].dtype == np.float32
    assert np.max(np.abs(outs[True] - outs[False])) <= 1e-4 * max(1.0, float(np.max(np.abs(outs[False]))))
