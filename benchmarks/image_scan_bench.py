"""Image scan benchmark: prints figures, asserts nothing.

1. Parse + gate a Trivy report with 10,000 findings (a real report's vulnerabilities, repeated):
   wall time and peak Python memory (tracemalloc).
2. Our overhead around a real scan: ``trivy fs --scanners misconfig,secret`` of the repository's
   ``include/`` directory, run alone (the exact command we build) and through ``run_image_scan``
   (version check, parse, redaction, artifact with sha256, gate). Median of 5 each, interleaved;
   target ≤ 1.05×.

    .venv/bin/python benchmarks/image_scan_bench.py [--findings 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from release_gates.checks.image_scan.redaction import redact_secrets
from release_gates.checks.image_scan.report import load_report
from release_gates.checks.image_scan.scan import run_image_scan
from release_gates.checks.image_scan.verdict import evaluate_trivy_report
from release_gates.policy import ImageScanCheck

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "trivy" / "alpine-39.json"


def _report(findings: int) -> bytes:
    base = json.loads(FIXTURE.read_text())
    vulns = base["Results"][0]["Vulnerabilities"]
    base["Results"][0]["Vulnerabilities"] = [
        {**vulns[i % len(vulns)], "PkgName": f"{vulns[i % len(vulns)]['PkgName']}-{i // len(vulns)}"}
        for i in range(findings)
    ]
    return json.dumps(base).encode()


def bench_parse_and_gate(findings: int, runs: int) -> None:
    raw = _report(findings)
    spec = ImageScanCheck(kind="image_scan", image="r.json", target="report", max_findings={"CRITICAL": 0})
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        report = load_report(raw)
        redacted, _ = redact_secrets(report)
        result = evaluate_trivy_report(redacted, spec, check_id="bench.image_scan")
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    report = load_report(raw)
    redacted, _ = redact_secrets(report)
    result = evaluate_trivy_report(redacted, spec, check_id="bench.image_scan")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = f"{len(raw) / 1e6:.1f} MB of JSON"
    print(f"parse + gate, {len(result.findings):,} findings ({size}), {result.status.value}:")
    print(
        f"  median {statistics.median(times) * 1000:.0f} ms over {runs} runs (min {min(times) * 1000:.0f} ms)"
    )
    print(f"  peak traced memory {peak / 2**20:.1f} MiB (report + result; the raw bytes not counted)")


def _ms(values: list[float]) -> str:
    return ", ".join(f"{v * 1000:.1f}" if v < 0.1 else f"{v * 1000:.0f}" for v in values)


def bench_overhead(runs: int) -> None:
    from release_gates.hooks.trivy import TrivyHook

    target = REPO / "include"
    with tempfile.TemporaryDirectory(prefix="rg-bench-") as tmp:
        hook = TrivyHook(None, cache_dir=Path(tmp) / "cache", skip_db_update=True, offline_scan=True)
        scanners: list[Any] = ["misconfig", "secret"]
        spec = ImageScanCheck(kind="image_scan", image=str(target), target="filesystem", scanners=scanners)
        argv = hook.build_scan_command(
            hook.find_binary(), str(target), kind="filesystem", scanners=scanners, timeout=600
        )

        def alone() -> float:
            started = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, check=True)
            assert proc.stdout
            return time.perf_counter() - started

        def ours() -> tuple[float, Any]:
            started = time.perf_counter()
            result = run_image_scan(
                spec, check_id="bench.image_scan", scanner=hook, artifacts_dir=Path(tmp) / "a"
            )
            return time.perf_counter() - started, result

        cold, result = ours()  # pays the one-time version probe; also warms the file cache
        alone()
        trivy_times, our_times, own = [], [], []
        for _ in range(runs):
            trivy_times.append(alone())
            elapsed, result = ours()
            our_times.append(elapsed)
            own.append(elapsed - result.metrics["trivy_seconds"])  # ours minus the trivy process inside it
        t, o = statistics.median(trivy_times), statistics.median(our_times)
        what = f"`trivy fs --scanners misconfig,secret {target.relative_to(REPO)}/`"
        print(f"overhead around {what} ({result.status.value}, {len(result.findings)} findings):")
        print(f"  trivy alone  median {t * 1000:.0f} ms  ({_ms(trivy_times)})")
        print(f"  ours         median {o * 1000:.0f} ms  ({_ms(our_times)})")
        print(f"  ratio        {o / t:.3f}x (target <= 1.05x)")
        mine = statistics.median(own)
        print(f"  our own time outside the trivy process: median {mine * 1000:.1f} ms ({_ms(own)})")
        print(
            f"  => ours / trivy alone, from that: {(t + mine) / t:.4f}x (steadier than the ratio of medians)"
        )
        print(f"  first call, with the one-time version probe: {cold * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bench_parse_and_gate(args.findings, args.runs)
    bench_overhead(args.runs)


if __name__ == "__main__":
    main()
