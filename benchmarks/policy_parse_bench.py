"""Validating hostile or huge policy files: every 1 MiB input is decided in well under a second.

Side by side in one run, each input is validated by ``parse_policy`` and, as the baseline, merely
parsed by PyYAML's C loader (what any YAML reader pays). Target (issue "Fail closed under faults and
insiders", item 12): every input decided in under 1 s; the ratio to the plain parse is printed too.

    .venv/bin/python benchmarks/policy_parse_bench.py [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from release_gates.policy import PolicyError, parse_policy
from release_gates.policy.loader import MAX_POLICY_BYTES

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = (REPO / "include" / "release_policy.yaml").read_bytes()


def padded_with_comments() -> bytes:
    filler = b"# " + b"x" * 76 + b"\n"
    return EXAMPLE + filler * ((MAX_POLICY_BYTES - len(EXAMPLE)) // len(filler))


def many_waivers(limit: int | None = None) -> bytes:
    """The example grown with waivers: to 1 MiB, or to ``limit`` waivers."""
    entry = (
        "  - id: CVE-2026-{n:05d}\n    owner: security_engineer\n    statement: accepted, not reachable\n"
        "    expires: 2099-01-01\n"
    )
    text = EXAMPLE.decode()
    head, _, tail = text.partition("\nwaivers: []\n")
    body = []
    size = len(text.encode())
    n = 0
    while size < MAX_POLICY_BYTES - 200 and (limit is None or n < limit):
        line = entry.format(n=n)
        body.append(line)
        size += len(line)
        n += 1
    return (head + "\nwaivers:\n" + "".join(body) + tail).encode()


def alias_bomb(levels: int = 9) -> bytes:
    lines = ['a0: &a0 ["lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return ("\n".join(lines) + f"\npolicy_version: *a{levels}\n").encode()


def deep_nesting() -> bytes:
    depth = 5000
    return b"policy_version: " + b"[" * depth + b"]" * depth + b"\n"


def timed(run: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    inputs = {
        "example padded with comments": padded_with_comments(),
        "example grown with waivers": many_waivers(),
        "3,500 waivers (under the cap)": many_waivers(3500),
        "alias bomb (9 levels)": alias_bomb(),
        "5000 nested lists": deep_nesting(),
    }
    print(f"{'input':<32} {'bytes':>9} {'decided in':>11} {'plain parse':>12} {'ratio':>7}  outcome")
    worst = 0.0
    for name, raw in inputs.items():
        outcome = "valid"

        def validate(raw: bytes = raw, name: str = name) -> None:
            nonlocal outcome
            try:
                parse_policy(raw, source=name)
            except PolicyError as exc:
                outcome = "refused: " + exc.problems[0].message[:60]

        def plain(raw: bytes = raw) -> None:
            with contextlib.suppress(yaml.YAMLError, RecursionError):
                yaml.load(raw, Loader=yaml.CSafeLoader)

        decided = timed(validate, args.runs)
        baseline = timed(plain, args.runs)
        worst = max(worst, decided)
        ratio = decided / baseline
        print(f"{name:<32} {len(raw):>9,} {decided:>10.3f}s {baseline:>11.3f}s {ratio:>6.1f}×  {outcome}")
    print(f"slowest input decided in {worst:.3f} s (target < 1 s): {'met' if worst < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
