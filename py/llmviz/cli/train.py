"""python -m llmviz train sort: train the small GPT that sorts six letters.

Training follows nanoGPT's recipe at a small scale: AdamW with weight decay on
the 2-D parameters only, a linear learning-rate warmup then a cosine decay to a
floor, gradient-norm clipping, dropout 0. Batches are drawn from the 729
possible inputs. On the CPU the run is reproducible: one seed for the weights
and the batches, deterministic algorithms, a fixed thread count.

The loss counts only the answer: the model reads 11 tokens (the sequence minus
its last) and is scored where the next token is one of the 6 output letters;
the other targets are -1, which cross-entropy ignores.

At the end the weights go through the numpy port (the code the page runs),
which decodes all 729 inputs greedily; the count lands in the model card.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from llmviz.core.sort_task import INPUT_LEN, LETTERS, TASK, all_inputs, sequence

DEFAULT_OUT = "weights/sort"


@dataclass
class TrainConfig:
    """Everything that decides the result of a run (with the torch version)."""
    steps: int = 2000
    seed: int = 1337
    batch_size: int = 128
    learning_rate: float = 3e-3
    min_lr: float = 3e-4           # the floor of the cosine decay
    warmup_steps: int = 100
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    threads: int = 2
    log_every: int = 100
    model: dict = field(default_factory=lambda: {
        "n_layer": 3, "n_head": 3, "n_embd": 48, "bias": True, "gelu": "erf"})


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to the peak, then a cosine down to ``min_lr`` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_steps + 1)
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.learning_rate - cfg.min_lr)


def sort_dataset():
    """All 729 training pairs as tensors: inputs x (729, 11) and targets y (729, 11).

    y is x shifted by one; targets that are not answer letters are -1 (ignored).
    """
    import torch

    index = {ch: i for i, ch in enumerate(LETTERS)}
    seqs = torch.tensor([[index[ch] for ch in sequence(text)] for text in all_inputs()])
    x, y = seqs[:, :-1].clone(), seqs[:, 1:].clone()
    y[:, : INPUT_LEN - 1] = -1  # position t predicts token t+1; answers start at token INPUT_LEN
    return x, y


def model_config(cfg: TrainConfig):
    from llmviz.core.model import GPTConfig

    x, _ = sort_dataset()
    return GPTConfig(block_size=x.shape[1], vocab_size=len(LETTERS), **cfg.model)


def train_sort(cfg: TrainConfig, log: Callable[[str], None] | None = print):
    """Train a torch GPT on the sort task; return (model, info) where info has losses and timing."""
    import torch

    from llmviz.cli.torch_gpt import GPT as TorchGPT

    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(cfg.threads)
    batches = torch.Generator().manual_seed(cfg.seed + 1)

    x_all, y_all = sort_dataset()
    model = TorchGPT(model_config(cfg))
    optimizer = model.configure_optimizer(cfg.learning_rate, cfg.weight_decay, cfg.betas)
    model.train()
    losses = []
    start = time.perf_counter()
    for step in range(cfg.steps):
        lr = learning_rate(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        rows = torch.randint(0, x_all.shape[0], (cfg.batch_size,), generator=batches)
        _, loss = model(x_all[rows], y_all[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        losses.append(loss.item())
        if log and (step % cfg.log_every == 0 or step == cfg.steps - 1):
            exact = exact_match(model, x_all, y_all)
            log(f"step {step:5d}  loss {losses[-1]:.3e}  lr {lr:.2e}  "
                f"exact {exact}/{x_all.shape[0]}  {time.perf_counter() - start:5.1f}s")
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        _, full_loss = model(x_all, y_all)
    return model, {"losses": losses, "final_loss": full_loss.item(), "train_seconds": seconds}


def exact_match(model, x_all, y_all) -> int:
    """Sequences whose six answer letters are all the argmax, with the true prefix fed in.

    With teacher forcing a fully right sequence is exactly one that greedy decoding
    gets right, so this equals the greedy count, computed in one batched pass.
    """
    import torch

    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits, _ = model(x_all)
    model.train(was_training)
    scored = y_all >= 0
    right = (logits.argmax(-1) == y_all) | ~scored
    return int(right.all(dim=1).sum())


def to_numpy(torch_model):
    """The trained weights in the numpy port, with the sort vocabulary attached."""
    from llmviz.core.model import GPT
    from llmviz.core.vocab import Vocab

    model = GPT.from_state_dict(torch_model.numpy_state_dict(), torch_model.config)
    model.vocab = Vocab(LETTERS)
    return model


def add_arguments(p: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    p.add_argument("task", choices=["sort"], help="what to train (only 'sort' for now)")
    p.add_argument("--steps", type=int, default=defaults.steps, help=f"optimizer steps (default {defaults.steps})")
    p.add_argument("--seed", type=int, default=defaults.seed, help=f"random seed (default {defaults.seed})")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"writes OUT.npz and OUT.json (default {DEFAULT_OUT})")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.learning_rate, help="peak learning rate")
    p.add_argument("--threads", type=int, default=defaults.threads, help="torch CPU threads")


def main(args: argparse.Namespace) -> int:
    try:
        import torch
    except ImportError:
        print("error: training needs torch: pip install 'llmviz[train]'", file=sys.stderr)
        return 2
    from llmviz.cli.evaluate import evaluate
    from llmviz.core.vocab import Vocab
    from llmviz.core.weights import make_card, save

    if args.steps < 1 or args.batch_size < 1 or args.threads < 1:
        print("error: --steps, --batch-size and --threads must be at least 1", file=sys.stderr)
        return 2
    cfg = TrainConfig(steps=args.steps, seed=args.seed, batch_size=args.batch_size,
                      learning_rate=args.lr, min_lr=args.lr / 10, threads=args.threads)
    print(f"training the sort model: {cfg.model}, {cfg.steps} steps, batch {cfg.batch_size}, "
          f"seed {cfg.seed}, {cfg.threads} threads, torch {torch.__version__}")
    torch_model, info = train_sort(cfg)
    model = to_numpy(torch_model)
    correct, total, failures = evaluate(model)
    print(f"trained in {info['train_seconds']:.1f}s; loss on all {total} inputs {info['final_loss']:.3e}; "
          f"numpy port sorts {correct}/{total}")
    for text, got, want in failures[:5]:
        print(f"  {text} -> {got} (expected {want})")

    provenance = {
        "trainer": "python -m llmviz train sort",
        "seed": cfg.seed, "steps": cfg.steps,
        "final_loss": round(info["final_loss"], 6),
        "last_batch_loss": round(info["losses"][-1], 6),
        "accuracy": f"{correct}/{total}",
        "train_seconds": round(info["train_seconds"], 1),
        "torch": torch.__version__,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
        "hyperparameters": {k: float(f"{v:.10g}") if isinstance(v, float) else v
                            for k, v in asdict(cfg).items() if k not in ("model", "log_every")},
    }
    card = make_card(model.config, Vocab(LETTERS), name="sort-abc", task=dict(TASK), provenance=provenance)
    npz_path, card_file = save(model, Path(args.out), card)
    print(f"wrote {npz_path} and {card_file}")
    return 0 if correct == total else 1
