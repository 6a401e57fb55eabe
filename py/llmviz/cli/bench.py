"""python -m llmviz bench: how fast the numpy port is, beside torch on the CPU.

Prints medians over repeated runs:
  - ``model.trace`` of the sort model (B=1, T=11), numpy vs torch's forward pass;
  - ``model(idx)`` of a GPT-2-small-shaped model with random weights (T=64), numpy vs torch;
and, with ``--page``, the page's cold and warm load in headless Chromium (served gzip-compressed
like a static host; ``--llm-viz DIR`` measures llm-viz's static build beside it, ``--page-only``
skips the model benchmarks).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from llmviz.core.model import GPT, GPTConfig

SORT = GPTConfig(block_size=11, vocab_size=3, n_layer=3, n_head=3, n_embd=48)
GPT2_SMALL = GPTConfig(block_size=1024, vocab_size=50257, n_layer=12, n_head=12, n_embd=768)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default="weights/sort.npz", help="the sort model (random weights if missing)")
    p.add_argument("--repeat", type=int, default=0, help="runs per measurement (default: 500 small, 15 large)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (numpy uses its BLAS default)")
    p.add_argument("--no-torch", action="store_true", help="skip the torch comparison")
    p.add_argument("--page", action="store_true", help="also measure the page in headless Chromium")
    p.add_argument("--url", default=None, help="with --page: measure this served page instead of a fresh build")
    p.add_argument("--dist", type=Path, default=None, help="with --page: serve this built dist/ instead of a fresh build")
    p.add_argument("--llm-viz", type=Path, default=None, metavar="DIR",
                   help="with --page: llm-viz's static build (its out/ folder, with llm.html), measured beside ours")
    p.add_argument("--runs", type=int, default=3, help="with --page: loads per case (default 3, medians)")
    p.add_argument("--no-frames", action="store_true", help="with --page: skip the renderer's frame benchmark")
    p.add_argument("--page-only", action="store_true", help="with --page: skip the model benchmarks")
    p.add_argument("--no-models", action="store_true",
                   help="with --page: skip the page at work with models of four sizes (issue 14's table)")


def median_ms(fn, repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def random_state(config: GPTConfig, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: (rng.standard_normal(ref.shape, dtype=np.float32) * 0.02)
            for name, ref in GPT(config).state_dict().items() if name != "lm_head.weight"}


def _torch_model(config: GPTConfig, state: dict, threads: int):
    import torch

    from llmviz.cli.torch_gpt import GPT as TorchGPT

    torch.set_num_threads(threads)
    model = TorchGPT(config).eval()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=False)
    return model, torch


def _line(label: str, numpy_ms: float, torch_ms: float | None) -> str:
    if torch_ms is None:
        return f"{label:<44} numpy {numpy_ms:9.3f} ms"
    return f"{label:<44} numpy {numpy_ms:9.3f} ms   torch {torch_ms:9.3f} ms   numpy/torch {numpy_ms / torch_ms:5.2f}x"


def main(args: argparse.Namespace) -> int:
    if args.page and args.page_only:
        return _page(args)
    small_repeat = args.repeat or 500
    large_repeat = args.repeat or 15

    # the sort model: the whole trace, as the page computes it
    if Path(args.weights).exists():
        from llmviz.core.weights import load
        sort_model = load(args.weights)
        state = {k: v for k, v in sort_model.state_dict().items() if k != "lm_head.weight"}
        source = args.weights
    else:
        state = random_state(SORT)
        sort_model = GPT.from_state_dict(state, SORT)
        source = "random weights (no weights file)"
    idx = np.random.default_rng(1).integers(0, SORT.vocab_size, size=(1, SORT.block_size))
    trace_ms = median_ms(lambda: sort_model.trace(idx), small_repeat)
    torch_ms = None
    if not args.no_torch:
        tmodel, torch = _torch_model(sort_model.config, state, args.threads)
        tidx = torch.from_numpy(idx)
        with torch.inference_mode():
            torch_ms = median_ms(lambda: tmodel(tidx), small_repeat)
    print(f"sort model ({source}), B=1, T={idx.shape[1]}, medians of {small_repeat} runs")
    print(_line("  model.trace (every intermediate kept)", trace_ms, torch_ms))

    # a GPT-2-small-shaped model: the port's raw speed
    state = random_state(GPT2_SMALL)
    big = GPT.from_state_dict(state, GPT2_SMALL)
    idx = np.random.default_rng(2).integers(0, GPT2_SMALL.vocab_size, size=(1, 64))
    big_ms = median_ms(lambda: big(idx), large_repeat, warmup=2)
    torch_ms = None
    if not args.no_torch:
        tmodel, torch = _torch_model(GPT2_SMALL, state, args.threads)
        tidx = torch.from_numpy(idx)
        with torch.inference_mode():
            torch_ms = median_ms(lambda: tmodel(tidx), large_repeat, warmup=2)
    print(f"GPT-2-small shape (12 layers, 12 heads, 768 wide, 124M params), B=1, T=64, "
          f"medians of {large_repeat} runs")
    print(_line("  model(idx) (logits only)", big_ms, torch_ms))

    if args.page:
        return _page(args)
    return 0


def _page(args: argparse.Namespace) -> int:
    from llmviz.cli.bench_page import run as run_page
    run_page(args.url, runs=args.runs, frames=not args.no_frames, dist=args.dist, llm_viz=args.llm_viz,
             models=not args.no_models)
    return 0
