"""Test-side glue for the streaming units: token streams to port payloads and back."""

from __future__ import annotations

import random

from zerohero.hw.protocol import BeatLayout, TokenLayout, pack, unpack

from .harness import beats, field_token, token_fields
from zerohero.spec.tokens import Token, encode_fibers

__all__ = ["StreamCodec", "random_fibers", "fiber_pair_cases"]


class StreamCodec:
    """Packs token streams for one design's ports and unpacks its outputs."""

    def __init__(self, cfg, k=None):
        self.cfg = cfg
        self.k = k or cfg.window
        self.single = TokenLayout(cfg, 1)
        self.pair = TokenLayout(cfg, 2)
        self.result = TokenLayout(cfg, 1, value_width=cfg.acc_width)
        self.beat = BeatLayout(self.single, self.k)

    def beats(self, tokens: list[Token], rng=None) -> list[int]:
        return [pack(self.beat, {"tok": [token_fields(t, 1) for t in group], "n": len(group)})
                for group in beats(tokens, self.k, rng)]

    def tokens(self, tokens: list[Token], layout) -> list[int]:
        return [pack(layout, token_fields(t, layout.operands)) for t in tokens]

    def decode(self, payloads: list[int], layout) -> list[Token]:
        return [field_token(unpack(layout, p)) for p in payloads]

    def done_mask(self, layout) -> int:
        return pack(layout, {"done": 1})


def random_fibers(rng: random.Random, n_fibers: int, length: int, density: float,
                  vmin: int, vmax: int, empty: float = 0.1):
    """``n_fibers`` sorted fibers over coordinates ``0..length-1`` of random values."""
    fibers = []
    for _ in range(n_fibers):
        if rng.random() < empty:
            fibers.append([])
            continue
        crds = [c for c in range(length) if rng.random() < density]
        fibers.append([(c, rng.randint(vmin, vmax)) for c in crds])
    return fibers


def fiber_pair_cases(cfg, rng: random.Random, count: int):
    """Random and edge-case fiber pairs ``(a_tokens, b_tokens)`` for the joiners."""
    top = cfg.coord_max
    vmin, vmax = cfg.value_min, cfg.value_max
    cases = [
        ([[]], [[]]),                                            # empty fibers
        ([[(3, 1)]], [[(3, 2)]]),                                # single match
        ([[(3, 1)]], [[(4, 2)]]),                                # single, no match
        ([[(c, c + 1) for c in range(12)]], [[(c, -c) for c in range(12)]]),  # all match
        ([[(c, 1) for c in range(0, 24, 2)]], [[(c, 1) for c in range(1, 24, 2)]]),  # none
        ([[(top, vmax)], [(0, vmin), (top, vmin)]],
         [[(top, vmin)], [(top, vmax)]]),                        # coordinate range ends
        ([[], [(1, 1)], []], [[(2, 2)], [], []]),                # empty against non-empty
        ([[(c, 1) for c in range(40)]], [[(39, 5)]]),            # long skip to the end
    ]
    cases = [(encode_fibers(a), encode_fibers(b)) for a, b in cases]
    for i in range(count):
        n = rng.randint(1, 6)
        length = rng.choice([8, 32, 200])
        da, db = rng.choice([0.05, 0.3, 0.9]), rng.choice([0.05, 0.3, 0.9])
        a = random_fibers(rng, n, length, da, vmin, vmax)
        b = random_fibers(rng, n, length, db, vmin, vmax)
        cases.append((encode_fibers(a), encode_fibers(b)))
    return cases
