"""Time to parse and evaluate selections on a large asset graph (the selection language is pure: no IO).

N assets (default 10,000) in 100 groups under 10 prefixes, each depending on up to 3 earlier ones,
a third tagged, a few IO managers. Each selection is parsed and evaluated R times; the best time is
printed, with the number of assets it names. Building the Universe (once per command) is timed apart.

Usage: python benchmarks/bench_selection.py [N] [ROUNDS]
"""
from __future__ import annotations

import random
import sys
import time

from datamake.selection import Universe, parse, select

SELECTIONS = [
    "k9999",
    "+k9999",
    "group:g7 and not tag:tier=gold",
    "p3/*",
    "(group:g1 or group:g2 or tag:slow=true) and not kind:json and +p3/k5030+2",
    "not (kind:text or 3+k8001) and (p1/* or p2/* or tag:tier) or k42+",
]


def graph(n: int):
    rng = random.Random(7)
    keys = [f"k{i}" if i % 10 else f"p{(i // 10) % 10}/k{i}" for i in range(n)]
    deps = {k: tuple(sorted({keys[rng.randrange(i)] for _ in range(rng.randint(0, 3))})) if i else ()
            for i, k in enumerate(keys)}
    groups = {k: f"g{i % 100}" for i, k in enumerate(keys)}
    tags = {k: {"tier": rng.choice(["gold", "silver"]), "slow": "true"} for i, k in enumerate(keys) if i % 3 == 0}
    kinds = {k: rng.choice(["auto", "json", "text", "arrow"]) for k in keys}
    return deps, groups, tags, kinds


def best(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(n: int, rounds: int) -> None:
    deps, groups, tags, kinds = graph(n)
    build = best(lambda: Universe(deps, groups, tags, kinds), rounds)
    universe = Universe(deps, groups, tags, kinds)
    print(f"{n} assets; Universe built in {build * 1000:.2f} ms (best of {rounds})")
    for text in SELECTIONS:
        parsed = best(lambda: parse(text), rounds)
        total = best(lambda: select(universe, text), rounds)
        print(f"{total * 1000:8.2f} ms  (parse {parsed * 1e6:6.0f} us)  {len(select(universe, text)):6d} assets  {text}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000, int(sys.argv[2]) if len(sys.argv) > 2 else 5)
