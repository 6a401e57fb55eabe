"""A small PyTorch GPT with nanoGPT's structure and state-dict names.

Used to train the sort model and as the reference the numpy port is checked
against. The modules carry the same names as nanoGPT's (``transformer.wte``,
``transformer.h.0.attn.c_attn``, ``lm_head``, ...), so ``state_dict()`` loads
straight into ``llmviz.core.model.GPT.from_state_dict`` and into nanoGPT itself.
It differs from nanoGPT in small ways that do not change the numbers:
attention is always the explicit softmax(q k^T) v form (no fused kernel, no
mask buffer in the state dict), the GELU form is a config choice, and the
logits of every position are returned.

Needs torch; nothing in the page imports this module.
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from llmviz.core.model import GPTConfig


class LayerNorm(nn.Module):
    """Layer norm over the last dim, eps 1e-5; the additive bias is optional."""

    def __init__(self, size: int, bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.zeros(size)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, eps=1e-5)


class CausalSelfAttention(torch.nn.Module):
    """Multi-head self-attention where each position sees itself and earlier ones."""

    def __init__(self, config: GPTConfig, dropout: float = 0.0):
        super().__init__()
        self.n_head, self.n_embd = config.n_head, config.n_embd
        width = config.n_embd
        self.c_attn = nn.Linear(width, 3 * width, bias=config.bias)  # q, k, v side by side
        self.c_proj = nn.Linear(width, width, bias=config.bias)      # heads back into C
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, width = x.shape
        head_size = width // self.n_head

        def heads(t: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, nh, T, hs)
            return t.reshape(batch, steps, self.n_head, head_size).permute(0, 2, 1, 3)

        query, key, value = (heads(t) for t in self.c_attn(x).chunk(3, dim=-1))
        scores = query @ key.transpose(2, 3) / math.sqrt(head_size)              # (B, nh, T, T)
        visible = torch.ones(steps, steps, dtype=torch.bool, device=x.device).tril()
        weights = torch.softmax(scores.masked_fill(~visible, float("-inf")), dim=-1)
        mixed = self.attn_dropout(weights) @ value                               # (B, nh, T, hs)
        joined = mixed.permute(0, 2, 1, 3).reshape(batch, steps, width)          # (B, T, C)
        return self.resid_dropout(self.c_proj(joined))


class MLP(nn.Module):
    """Widen to 4C, GELU, narrow back to C."""

    def __init__(self, config: GPTConfig, dropout: float = 0.0):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh" if config.gelu == "tanh" else "none")
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-norm transformer block: attention then MLP, each added to the residual."""

    def __init__(self, config: GPTConfig, dropout: float = 0.0):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, config.bias)
        self.attn = CausalSelfAttention(config, dropout)
        self.ln_2 = LayerNorm(config.n_embd, config.bias)
        self.mlp = MLP(config, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x + self.attn(self.ln_1(x))
        return residual + self.mlp(self.ln_2(residual))


class GPT(nn.Module):
    """Token + position embeddings, ``n_layer`` blocks, final norm, tied output head."""

    def __init__(self, config: GPTConfig, dropout: float = 0.0):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict({
            "wte": nn.Embedding(config.vocab_size, config.n_embd),
            "wpe": nn.Embedding(config.block_size, config.n_embd),
            "drop": nn.Dropout(dropout),
            "h": nn.ModuleList(Block(config, dropout) for _ in range(config.n_layer)),
            "ln_f": LayerNorm(config.n_embd, config.bias),
        })
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying, as in GPT-2
        self._init_parameters()

    def _init_parameters(self) -> None:
        """GPT-2's scheme: N(0, 0.02) weights, zero biases, residual projections scaled down."""
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, param in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(param, 0.0, residual_std)
            elif name.endswith(".bias"):
                nn.init.zeros_(param)
            elif ".ln_" not in name:  # layer-norm gains stay at one
                nn.init.normal_(param, 0.0, 0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (B, T, vocab) for every position, and the loss when ``targets`` is given.

        Targets of -1 are ignored, so a task can score only some positions.
        """
        steps = idx.shape[1]
        if steps > self.config.block_size:
            raise ValueError(f"sequence of {steps} tokens is longer than block_size {self.config.block_size}")
        positions = torch.arange(steps, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(positions))
        for layer in self.transformer.h:
            x = layer(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1)
        return logits, loss

    def configure_optimizer(self, learning_rate: float, weight_decay: float,
                            betas: tuple[float, float]) -> torch.optim.AdamW:
        """AdamW that decays matrices and embeddings (2-D and up) but not biases or norm gains."""
        params = {name: p for name, p in self.named_parameters() if p.requires_grad}  # tied: once
        groups = [
            {"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)

    def numpy_state_dict(self) -> dict:
        """The parameters as float32 numpy arrays under nanoGPT's names (tied head left out)."""
        return {name: t.detach().cpu().float().numpy().copy()
                for name, t in self.state_dict().items() if name != "lm_head.weight"}
