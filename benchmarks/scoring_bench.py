"""Scoring inside the release: the chunked scoring engine vs a plain whole-frame ``model.predict``.

The demo's fair candidate (``demo/prepare.py``: logistic regression on the HMDA credit features,
approves at P > 0.3), fitted on the demo's training half, scores a 1M-row evaluation frame built by
resampling the HMDA evaluation half. Both runs do the same work — read the Parquet file, compute the
decision and the approval probability for every row, write the rows with both columns — each in a
fresh interpreter:

* ``engine``: :func:`release_gates.scoring.engine.score_file` (``chunk_rows`` at a time, streamed);
* ``plain``: ``pd.read_parquet`` → ``model.predict`` / ``predict_proba`` on the whole frame → ``to_parquet``.

Peak memory is the process's resident high-water mark (``VmHWM``) above its resident size once the
libraries and the model are loaded (what scoring itself adds). Targets (issue 14): wall time
≤ 1.2×, peak memory ≤ 0.3×. One run measured here (2 shared cores): engine 0.54× the wall time,
0.22× the peak memory over baseline (189 MB vs 853 MB), identical output.
The input file has 100k-row row groups, as a dataset written in parts has; a Parquet reader holds
at least one row group's column chunks, so a file that is one 1M-row row group would bound the
engine's memory by that instead.

    .venv/bin/python benchmarks/scoring_bench.py [--rows 1000000] [--chunk-rows 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # demo/ sits next to the package, outside the wheel
    sys.path.insert(0, str(REPO))


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    """This process image's resident high-water mark (``VmHWM``).

    Not ``ru_maxrss``: Linux carries that over from the forking parent across ``exec``, so a child of
    a parent that held the 1M-row frame would report the parent's peak.
    """
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(workdir: Path, rows: int) -> dict[str, str]:
    """The demo's fair candidate as a skops file and a ``rows``-row evaluation Parquet file."""
    import skops.io as sio
    from sklearn.model_selection import train_test_split

    from demo.prepare import CANDIDATES, candidate_model, hmda

    frame = hmda()
    train, test = train_test_split(frame, test_size=0.5, random_state=7, stratify=frame["approved"])
    features, threshold = CANDIDATES["fair"]
    model = candidate_model(train, features, threshold)
    model_path = workdir / "fair.skops"
    sio.dump(model, model_path)
    big = test.sample(n=rows, replace=True, random_state=0).reset_index(drop=True)
    big = big.assign(pred=0, score=0.0)
    data_path = workdir / "eval_big.parquet"
    big.to_parquet(data_path, index=False, row_group_size=100_000)
    return {
        "model": str(model_path),
        "sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "data": str(data_path),
        "features": ",".join(features),
    }


class _Ref:
    format = "skops"
    trusted_types = ["numpy.dtype"]

    def __init__(self, uri: str, sha256: str) -> None:
        self.uri, self.sha256 = uri, sha256


def child(which: str, assets: dict[str, str], chunk_rows: int) -> None:
    import pandas as pd
    import pyarrow.parquet  # noqa: F401

    from release_gates.scoring.engine import OutputColumns, score_file
    from release_gates.scoring.loaders import load_model

    model = load_model(_Ref(assets["model"], assets["sha256"]))
    out = Path(assets["data"]).with_name(f"out_{which}.parquet")
    baseline = _rss_mb()
    began = time.perf_counter()
    if which == "engine":
        columns = OutputColumns(prediction="pred", score="score", excluded=("approved",))
        scored = score_file(
            Path(assets["data"]), "parquet", model, columns, out, name="eval", chunk_rows=chunk_rows
        )
        rows = scored.rows
    else:
        frame = pd.read_parquet(assets["data"])
        inputs = frame[assets["features"].split(",")]
        frame["pred"] = model.predict(inputs)
        assert model.predict_score is not None
        frame["score"] = model.predict_score(inputs)
        frame.to_parquet(out, index=False)
        rows = len(frame)
    seconds = time.perf_counter() - began
    peak = _peak_rss_mb()
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "baseline_mb": baseline, "rows": rows}))


def measure(which: str, assets: dict[str, str], chunk_rows: int) -> dict[str, Any]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", which, "--assets", json.dumps(assets)]
    proc = subprocess.run(
        [*argv, "--chunk-rows", str(chunk_rows)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{which} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--child", choices=["engine", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--assets", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, json.loads(args.assets), args.chunk_rows)
        return
    with tempfile.TemporaryDirectory(prefix="scoring-bench-") as tmp:
        assets = prepare(Path(tmp), args.rows)
        results = {which: measure(which, assets, args.chunk_rows) for which in ("plain", "engine")}
        import pandas as pd

        same = pd.read_parquet(Path(tmp) / "out_engine.parquet").equals(
            pd.read_parquet(Path(tmp) / "out_plain.parquet")
        )
    print(f"scoring {args.rows:,} HMDA rows with the demo's fair candidate, chunk_rows {args.chunk_rows:,}")
    print(f"{'run':<8} {'seconds':>8} {'peak MB':>8} {'over baseline MB':>17}")
    for which, r in results.items():
        print(f"{which:<8} {r['seconds']:8.2f} {r['peak_mb']:8.0f} {r['peak_mb'] - r['baseline_mb']:17.0f}")
    plain, engine = results["plain"], results["engine"]
    time_ratio = engine["seconds"] / plain["seconds"]
    memory_ratio = (engine["peak_mb"] - engine["baseline_mb"]) / (plain["peak_mb"] - plain["baseline_mb"])
    print(f"wall time engine/plain: {time_ratio:.2f}x (target <= 1.2x)")
    print(f"peak memory over baseline engine/plain: {memory_ratio:.2f}x (target <= 0.3x)")
    print(f"raw peak RSS engine/plain: {engine['peak_mb'] / plain['peak_mb']:.2f}x")
    print(f"identical output files' contents: {same}")
    if not same:
        raise SystemExit("the engine's output differs from whole-frame scoring")


if __name__ == "__main__":
    main()
