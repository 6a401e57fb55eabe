"""llmviz.core.shape: the one place that knows the model's names, shapes and counts.

Its answers are checked against the real numpy model (its arrays, found by walking
the objects, not through ``state_dict``), a real trace, the scene's blocks, and
nanoGPT's own model.py when a checkout is around; and a scan of the package makes
sure no other module derives them again.
"""
from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from llmviz.core import shape as shape_module
from llmviz.core.model import GPT, GPTConfig
from llmviz.core.shape import (ModelShape, WeightsError, full_name, head_kind, lookup_param,
                               short_name)
from llmviz.viz import layout

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "py" / "llmviz"

CONFIGS = [
    GPTConfig(block_size=11, vocab_size=3, n_layer=3, n_head=3, n_embd=48),                  # the sort model
    GPTConfig(block_size=8, vocab_size=10, n_layer=2, n_head=2, n_embd=16, bias=False),
    GPTConfig(block_size=32, vocab_size=65, n_layer=1, n_head=4, n_embd=64, gelu="tanh"),
    GPTConfig(block_size=4, vocab_size=7, n_layer=1, n_head=1, n_embd=8, bias=False),
    GPTConfig(block_size=9, vocab_size=7, n_layer=4, n_head=3, n_embd=24),
]
IDS = [f"L{c.n_layer}H{c.n_head}C{c.n_embd}{'' if c.bias else '-nobias'}" for c in CONFIGS]


def model_arrays(model: GPT) -> dict[str, np.ndarray]:
    """Every float array the model object holds, by attribute path, found by walking the
    objects (so this does not go through ``state_dict`` or ModelShape)."""
    found: dict[str, np.ndarray] = {}

    def walk(obj, path: str) -> None:
        if isinstance(obj, np.ndarray):
            if np.issubdtype(obj.dtype, np.floating):   # the causal mask is bool
                found[path] = obj
        elif isinstance(obj, list):
            for i, item in enumerate(obj):
                walk(item, f"{path}.{i}")
        elif type(obj).__module__ == "llmviz.core.model":
            for name, value in vars(obj).items():
                if name not in ("config", "vocab", "card"):
                    walk(value, f"{path}.{name}" if path else name)

    walk(model, "")
    return found


def random_state(config: GPTConfig, tied: bool, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = model_arrays(GPT(config))
    state = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in arrays.items()}
    if tied:
        del state["lm_head.weight"]
    return state


# ----------------------------------------------------------------------------
# parameters


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_parameters_are_the_models_arrays(config):
    model = GPT(config)
    arrays = model_arrays(model)
    s = ModelShape.from_config(config)
    assert list(s.param_shapes()) == list(arrays)              # names, in nanoGPT's order
    assert s.param_shapes() == {k: v.shape for k, v in arrays.items()}
    assert s.param_names() == list(model.state_dict())
    assert all(model.state_dict()[k] is v for k, v in arrays.items())
    assert s.modules() == list(dict.fromkeys(k.rsplit(".", 1)[0] for k in arrays))
    assert any(n.endswith(".bias") for n in s.param_names()) == config.bias
    for name, arr in arrays.items():
        info = s.param_info(name)
        assert info.name == name and info.shape == arr.shape and s.param_shape(short_name(name)) == arr.shape
        module = model
        for part in info.module.split("."):
            module = module[int(part)] if part.isdigit() else getattr(module, part)
        assert type(module).__name__ == info.kind and getattr(module, info.attr) is arr
        assert info.layer == (int(name.split(".")[2]) if name.startswith("transformer.h.") else None)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_parameter_counts(config, tied):
    s = ModelShape.from_config(config)
    model = GPT.from_state_dict(random_state(config, tied), config)
    assert (model.lm_head.weight is model.transformer.wte.weight) == tied
    distinct = {id(a): a.size for a in model.state_dict().values()}   # a tied matrix once
    assert s.param_count(tied=tied) == sum(distinct.values()) == model.num_params()
    untied_total = sum(a.size for a in model_arrays(GPT(config)).values())
    assert s.param_count(tied=False) == untied_total
    assert s.param_count(tied=True) == untied_total - config.vocab_size * config.n_embd
    assert s.param_count() == s.param_count(tied=True) == layout.param_count(config)


def test_known_counts():
    gpt2 = ModelShape.from_config(layout.SCALE_CONFIGS["gpt2-small"])
    assert gpt2.param_count() == 124_439_808     # the "124M" of GPT-2 small, wpe included
    assert gpt2.param_count(tied=False) == 124_439_808 + 50257 * 768


def nanogpt_module():
    """nanoGPT's own model.py, when a checkout and torch are around."""
    folder = os.environ.get("LLMVIZ_NANOGPT") or "/tmp/nanogpt"
    path = Path(folder) / "model.py"
    if not path.exists():
        pytest.skip("no nanoGPT checkout ($LLMVIZ_NANOGPT)")
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("nanogpt_model_for_shape_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("config", CONFIGS[:3], ids=IDS[:3])
def test_names_shapes_and_count_are_nanogpts(config, capsys):
    ng = nanogpt_module()
    c = config
    model = ng.GPT(ng.GPTConfig(block_size=c.block_size, vocab_size=c.vocab_size, n_layer=c.n_layer,
                                n_head=c.n_head, n_embd=c.n_embd, dropout=0.0, bias=c.bias))
    want = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith(".attn.bias")}
    s = ModelShape.from_config(config)
    assert s.param_shapes() == want and list(s.param_shapes()) == list(want)
    assert s.param_count(tied=True) == model.get_num_params(non_embedding=False)
    assert s.param_count(tied=True) - c.block_size * c.n_embd == model.get_num_params()


def test_match_state_dict_is_pure_python_and_names_the_key():
    s = ModelShape(block_size=4, vocab_size=5, n_layer=1, n_head=2, n_embd=8)
    state = {name: SimpleNamespace(shape=shp) for name, shp in s.param_shapes().items()
             if name != "lm_head.weight"}
    matched = s.match_state_dict({"_orig_mod." + k: v for k, v in state.items()})
    assert list(matched) == s.param_names()
    assert matched["lm_head.weight"] is matched["transformer.wte.weight"]
    state["transformer.h.0.mlp.c_fc.weight"] = SimpleNamespace(shape=(8, 32))
    with pytest.raises(WeightsError, match=r"'transformer.h.0.mlp.c_fc.weight' has shape \(8, 32\), "
                                           r"expected \(32, 8\)"):
        s.match_state_dict(state)


# ----------------------------------------------------------------------------
# names


@pytest.mark.parametrize("config", CONFIGS[:2], ids=IDS[:2])
def test_short_and_full_names_convert_both_ways(config):
    s = ModelShape.from_config(config)
    full, short = s.param_names(), s.param_names(short=True)
    assert [short_name(n) for n in full] == short and [full_name(n) for n in short] == full
    assert all(full_name(n) == n for n in full) and all(short_name(n) == n for n in short)
    assert "lm_head.weight" in short and "wte.weight" in short and "transformer.wte.weight" in full
    assert not any(n.startswith("transformer.") for n in short)
    params = GPT(config).state_dict()
    for name in short:
        assert lookup_param(params, name) is params[full_name(name)]
        assert lookup_param({k: v for k, v in params.items()}, full_name(name)) is params[full_name(name)]
    short_params = {short_name(k): v for k, v in params.items()}
    assert lookup_param(short_params, "transformer.h.0.ln_1.weight") is short_params["h.0.ln_1.weight"]
    with pytest.raises(KeyError, match="h.9.ln_1.weight"):
        lookup_param(params, "h.9.ln_1.weight")


# ----------------------------------------------------------------------------
# the trace


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_trace_names_and_shapes_are_the_real_traces(config):
    model = GPT.from_state_dict(random_state(config, tied=True), config)
    T = min(5, config.block_size)
    trace = model.trace(np.arange(2 * T).reshape(2, T) % config.vocab_size)
    want = ModelShape.from_config(config).trace_shapes(B=2, T=T)
    assert list(trace) == list(want)                                 # forward order
    assert trace.shapes() == want
    import llmviz
    assert llmviz.trace_shapes(config, 2, T) == want                 # the public re-export


def test_per_head_tensors_are_those_with_a_head_axis():
    config = CONFIGS[4]            # nh = 3 differs from B, T, C, V, so the axis is unambiguous
    s = ModelShape.from_config(config)
    model = GPT.from_state_dict(random_state(config, tied=True), config)
    trace = model.trace(np.array([[1, 2, 3, 4, 5], [0, 1, 2, 3, 4]]))
    for name, arr in trace.items():
        has_head_axis = arr.ndim >= 3 and arr.shape[1] == config.n_head
        assert (head_kind(name) is not None) == has_head_axis, name
        assert s.scene_ids(name) == ([f"{name}[{h}]" for h in range(3)] if has_head_axis else [name])
    assert {head_kind(n) for n in trace if head_kind(n)} == set(shape_module.PER_HEAD)


def test_c_attn_rows_are_the_heads_q_k_v():
    config = CONFIGS[4]
    s = ModelShape.from_config(config)
    model = GPT.from_state_dict(random_state(config, tied=True, seed=3), config)
    trace = model.trace(np.array([[1, 2, 3, 4, 5]]))
    W = model.transformer.h[1].attn.c_attn.weight
    b = model.transformer.h[1].attn.c_attn.bias
    x = trace["h.1.ln_1"][0]
    for kind in "qkv":
        for h in range(config.n_head):
            r0, r1 = s.c_attn_rows(kind, h)
            np.testing.assert_allclose(x @ W[r0:r1].T + b[r0:r1], trace[f"h.1.attn.{kind}"][0, h],
                                       rtol=1e-5, atol=1e-5)
            assert [s.c_attn_split(r) for r in range(r0, r1)] == [(kind, h, d) for d in range(s.hs)]
        assert s.c_attn_rows(kind) == (s.c_attn_rows(kind, 0)[0], s.c_attn_rows(kind, config.n_head - 1)[1])


# ----------------------------------------------------------------------------
# blocks


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_blocks_are_the_scenes(config):
    s = ModelShape.from_config(config)
    scene = {b["id"]: b for b in layout.scene(config)["blocks"]}
    assert s.block_ids() == set(scene)
    assert len(s.blocks()) == len(scene)
    for b in s.blocks():
        drawn = scene[b.id]
        assert drawn.get("trace") == b.trace and drawn.get("param") == b.param, b.id
        assert drawn.get("head") == b.head and drawn.get("kind") == b.kind, b.id
        assert (tuple(drawn["slice"]) if "slice" in drawn else None) == b.rows, b.id
    # a parameter's blocks are listed in the order the scene draws them
    for name in s.param_names():
        assert [b.id for b in s.blocks() if b.param == name] == [i for i, d in scene.items()
                                                                   if d.get("param") == name]


# ----------------------------------------------------------------------------
# configs, sizes, follow


def test_from_config_takes_a_gptconfig_an_object_or_a_dict():
    config = CONFIGS[1]
    s = ModelShape.from_config(config)
    assert s.to_dict() == config.to_dict()
    assert ModelShape.from_config(config.to_dict()) is s                       # one instance per config
    assert ModelShape.from_config(SimpleNamespace(**config.to_dict())) is s
    assert ModelShape.from_config(s) is s
    defaults = ModelShape.from_config({k: v for k, v in config.to_dict().items() if k not in ("bias", "gelu")})
    assert defaults.bias is True and defaults.gelu == "erf"
    assert s.dims(T=5) == {"C": 16, "T": 5, "block_size": 8, "n_layer": 2, "n_head": 2, "nh": 2, "hs": 8,
                           "V": 10, "vocab_size": 10, "3C": 48, "4C": 64}
    assert s.dims()["T"] == 8


@pytest.mark.parametrize("fields,message", [
    ({"n_embd": 50, "n_head": 3}, r"n_embd \(50\) must be a multiple of n_head \(3\)"),
    ({"n_layer": 0}, "n_layer must be a positive integer"),
    ({"n_head": True}, "n_head must be a positive integer"),
    ({"vocab_size": 2.5}, "vocab_size must be a positive integer"),
    ({"gelu": "relu"}, "gelu must be 'erf' or 'tanh'"),
    ({"n_embd": None}, "the config has no 'n_embd'"),
])
def test_bad_configs_say_what_is_wrong(fields, message):
    with pytest.raises(ValueError, match=message):
        ModelShape.from_config({**CONFIGS[0].to_dict(), **fields})
    with pytest.raises(ValueError, match=message):   # GPTConfig asks ModelShape too
        GPTConfig(**{**CONFIGS[0].to_dict(), **fields})


def test_follow_checks_layer_and_head():
    s = ModelShape.from_config(CONFIGS[0])
    assert s.follow(None) == {"layer": 0, "head": 0}
    assert s.follow({"layer": "2", "head": 1.0}) == {"layer": 2, "head": 1}
    assert s.follow_limits() == {"layer": 3, "head": 3}
    for bad in ({"layer": 3}, {"head": -1}, {"layer": 1.5}, {"head": True}, {"depth": 1}, [0, 1]):
        with pytest.raises(ValueError):
            s.follow(bad)


def test_shape_is_pure_python():
    tree = ast.parse((PACKAGE / "core" / "shape.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "operator", "dataclasses", "functools", "math", "typing"}, imported
    code = textwrap.dedent("""
        import sys
        sys.modules["numpy"] = None   # any numpy import fails
        from llmviz.core.shape import ModelShape
        from llmviz.core import trace
        s = ModelShape.from_config(dict(block_size=4, vocab_size=3, n_layer=1, n_head=1, n_embd=4))
        print(len(s.block_ids()), s.param_count(), len(trace.trace_shapes(s)))
    """)
    env = dict(os.environ, PYTHONPATH=str(PACKAGE.parent))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1] == str(ModelShape.from_config(
        dict(block_size=4, vocab_size=3, n_layer=1, n_head=1, n_embd=4)).param_count())


# ----------------------------------------------------------------------------
# nobody else derives them

# a module or parameter of a transformer block, named without its layer: only a table that
# enumerates the block's parameters writes these (step data names blocks as "h.{L}. ...")
_LAYER_PARAM = {"ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias"} | {
    f"{m}{a}" for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj") for a in ("", ".weight", ".bias")}
_SIZE_NAMES = set(shape_module.SIZE_FIELDS)


def _strings(node: ast.AST) -> list[str]:
    """The string constants of a collection literal, through nested collections."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for e in node.elts for s in _strings(e)]
    if isinstance(node, ast.Dict):
        return [s for k in node.keys if k is not None for s in _strings(k)] + \
               [s for v in node.values for s in _strings(v) if isinstance(v, (ast.Tuple, ast.List, ast.Set, ast.Dict))]
    return []


def rederivations(source: str) -> list[tuple[int, str]]:
    """Where ``source`` derives the model's names or sizes itself: (line, what)."""
    found = []
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            # "transformer." as a prefix to add, strip or measure; whole names are fine
            if text.startswith("transformer.") and not text.endswith((".weight", ".bias")):
                found.append((node.lineno, f"builds or strips the 'transformer.' prefix ({text!r})"))
            if "head_out" in text and "scores" in text and "|" in text:
                found.append((node.lineno, "a pattern of the per-head tensors"))
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)) and \
                not isinstance(parents.get(node), (ast.Tuple, ast.List, ast.Set, ast.Dict)):
            strings = set(_strings(node))
            if len(strings & _LAYER_PARAM) >= 2:
                found.append((node.lineno, f"a table of a block's parameters {sorted(strings & _LAYER_PARAM)}"))
            if {"scores", "head_out"} <= strings:
                found.append((node.lineno, "a table of the per-head tensors"))
            if not isinstance(node, ast.Dict) and len(strings & _SIZE_NAMES) >= 4:
                found.append((node.lineno, "a list of the config's fields"))
        elif isinstance(node, ast.ClassDef) and node.name != "GPTConfig":
            fields = {t.id for stmt in node.body if isinstance(stmt, (ast.Assign, ast.AnnAssign))
                      for target in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
                      for t in ast.walk(target) if isinstance(t, ast.Name)}
            if len(fields & _SIZE_NAMES) >= 3:
                found.append((node.lineno, f"a config stand-in class {node.name}"))
            if "Config" in node.name and "__dict__" in ast.unparse(node):
                found.append((node.lineno, f"a config adapter class {node.name}"))
    return found


# what the scan must catch: the derivations this module replaced, as they were written
_OLD_DERIVATIONS = [
    '''for mod in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"):
        names.append(p + mod + ".weight")''',
    '''table = {"wte.weight": (V, C), "attn.c_attn.weight": (3 * C, C), "mlp.c_fc.weight": (4 * C, C)}''',
    '''for mod_name, mod in (("ln_1", block.ln_1), ("attn.c_attn", block.attn.c_attn),
                          ("attn.c_proj", block.attn.c_proj), ("ln_2", block.ln_2)):
        pass''',
    '''short = name[len("transformer."):] if name.startswith("transformer.") else name''',
    '''full = name if name.startswith("lm_head") else "transformer." + name''',
    '''name = name.removeprefix("transformer.")''',
    '''x = f"transformer.{p}attn.c_proj.weight"''',
    '''_PER_HEAD = re.compile(r"^h\\.\\d+\\.attn\\.(q|k|v|scores|att|att\\.max|att\\.sum|head_out)$")''',
    '''PER_HEAD = ("q", "k", "v", "scores", "att", "att.max", "att.sum", "head_out")''',
    '''class _CheckConfig:
        block_size, vocab_size, n_layer, n_head, n_embd = 8, 5, 2, 2, 8''',
    '''class _Config:
        def __init__(self, fields):
            self.__dict__.update(fields)''',
    '''_REQUIRED_ARGS = ("n_layer", "n_head", "n_embd", "block_size", "vocab_size")''',
    '''if local in ("attn.c_attn.weight", "attn.c_attn.bias"):
        pass''',
]

# what it must leave alone: step data and text naming particular tensors
_STEP_TEXT = [
    '''Step(focus=["wte.weight", "wpe.weight", "h.{L}.ln_1.weight", "h.{L}.ln_1.bias"],
            cells={"h.{L}.attn.c_attn.q.weight[{h}]": ["row 0"], "h.{L}.mlp.c_fc.weight": ["all"]},
            animation={"kind": "matmul", "weight": "h.{L}.mlp.c_proj.weight", "input": "h.{L}.mlp.gelu"})''',
    '''text = """The weights `transformer.h.0.attn.c_attn.weight` hold q, k and v; scores, att
    and head_out have one block per head (ln_1, ln_2: `self.transformer.h`)."""''',
    '''v = {"w0": w.par("lm_head.weight", 1, 0), "b": w.par("h.{L}.attn.c_proj.bias", 0)}
tied = sd["lm_head.weight"] is sd["transformer.wte.weight"]''',
    '''path = [p + "ln_1", p + "attn.y", p + "attn.out", p + "ln_2", p + "mlp.fc", p + "mlp.out"]
lns = {"ln_1": ("h.{i}.ln_1", x), "ln_2": ("h.{i}.ln_2", y), "ln_f": ("ln_f", z)}''',
    '''SCALE = {"gpt2": {"block_size": 1024, "vocab_size": 50257, "n_layer": 12, "n_head": 12, "n_embd": 768}}''',
]


@pytest.mark.parametrize("source", _OLD_DERIVATIONS)
def test_the_scan_catches_a_rederivation(source):
    assert rederivations(textwrap.dedent(source)), source


@pytest.mark.parametrize("source", _STEP_TEXT)
def test_the_scan_leaves_step_text_alone(source):
    assert rederivations(textwrap.dedent(source)) == []


def test_no_module_but_shape_derives_names_or_sizes():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "core" / "shape.py":
            continue
        for line, what in rederivations(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert not offenders, "ask llmviz.core.shape instead:\n" + "\n".join(offenders)


def test_model_and_code_panel_imports():
    """model -> shape only (no import of weights, no cycle); code_refs does not lean on the walkthrough."""
    def imports(rel: str) -> set[str]:
        tree = ast.parse((PACKAGE / rel).read_text())
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | \
               {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}

    model = {m for m in imports("core/model.py") if m.startswith("llmviz")}
    assert model == {"llmviz.core.shape", "llmviz.core.trace"}
    assert not any(m.startswith("llmviz.walkthrough") for m in imports("codepanel/code_refs.py"))
