"""A SQL table's fingerprint is the one recorded before: pins in existing evidence must keep matching,
whatever the batch size the rows are streamed in."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from release_gates.datasets import SqlSource, sql_fingerprint


def test_a_recorded_pin_still_matches(tmp_path: Path) -> None:
    """The digest below was recorded with release-gates-sql-v1 as released (per-row json.dumps)."""
    path = tmp_path / "pinned.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (a REAL, b INTEGER, c TEXT, d BLOB, e NUMERIC)")
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
        [
            (0.1, 1, "plain", b"\x00\xff", 1.5),
            (None, -(2**62), 'quote " backslash \\ newline \n', None, None),
            (float("inf"), 0, "é😀 ],[", b"", 3),
            (-0.0, 7, None, b"x", 2.25),
            (1e-05, None, "", None, "text in numeric"),
        ],
    )
    con.commit()
    con.close()
    source = SqlSource(url=f"sqlite:///{path}", table="t")
    pinned = "060c05f4b9529ab1b3457c360b52c0707e8ec54224172bea549cb51088385e8e"
    fingerprints = {batch: sql_fingerprint("pinned", source, batch_rows=batch) for batch in (1, 2, 10_000)}
    assert {f["sha256"] for f in fingerprints.values()} == {pinned}
    assert fingerprints[1]["rows"] == 5
    # One changed value is a different pin.
    con = sqlite3.connect(path)
    con.execute("UPDATE t SET a = 0.30000000000000004 WHERE b = 1")
    con.commit()
    con.close()
    assert sql_fingerprint("pinned", source)["sha256"] != pinned
