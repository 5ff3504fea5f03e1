"""Checks that a model card states only what its cited evidence records hold.

A card cites records as ``[evidence #<seq> <kind>]``. Every citation must name a record of the chain
with that kind, and every number on a line that cites must occur in the cited records (as a recorded
number, or inside recorded text such as a summary or the policy snapshot). Timestamps, and code spans
(hashes, paths, ids), are compared by the tests that need them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from release_gates.evidence import EvidenceRecord
from release_gates.reports.model_card import CITATION

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:[+-]\d{2}:\d{2}|Z)?)?")
_NUMBER = re.compile(r"(?<![\w.:+-])\d+(?:\.\d+)?(?:e-?\d+)?(?![\w:+-]|\.\d)")


def numbers_in(text: str) -> list[str]:
    return _NUMBER.findall(_TIMESTAMP.sub(" ", text))


def recorded_numbers(value: Any) -> set[str]:
    """Every number a payload holds, as written: number leaves, and numbers inside text leaves."""
    if isinstance(value, bool) or value is None:
        return set()
    if isinstance(value, int | float):
        return {str(value)}
    if isinstance(value, str):
        return set(numbers_in(value))
    if isinstance(value, Mapping):
        return set().union(*(recorded_numbers(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(recorded_numbers(v) for v in value)) if value else set()
    return set()


def citations(text: str, records: Sequence[EvidenceRecord]) -> list[EvidenceRecord]:
    """The records ``text`` cites, each checked to exist with the kind the citation names."""
    by_seq = {r.seq: r for r in records}
    cited = []
    for seq, kind in CITATION.findall(text):
        record = by_seq.get(int(seq))
        assert record is not None, f"the card cites #{seq}, which the chain does not hold"
        assert record.kind == kind, f"the card cites #{seq} as {kind}; it is {record.kind}"
        cited.append(record)
    return cited


def assert_cited_figures(text: str, records: Sequence[EvidenceRecord]) -> int:
    """Every number on every citing line occurs in the records it cites; returns the lines checked."""
    checked = 0
    for line in text.splitlines():
        cited = citations(line, records)
        if not cited:
            continue
        checked += 1
        allowed = set().union(*(recorded_numbers(r.payload) for r in cited))
        bare = CITATION.sub(" ", re.sub(r"`[^`]*`", " ", line))
        for token in numbers_in(bare):
            assert token in allowed, f"{token} on {line!r} is not in the record(s) it cites"
    return checked


def table(text: str, header_start: str) -> list[dict[str, str]]:
    """The rows of the Markdown table whose header line starts with ``header_start``, by column."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    columns = [c.strip() for c in lines[start].strip("|").split(" | ")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
        assert len(cells) == len(columns), f"a row of {len(cells)} cells under {len(columns)} columns: {line}"
        rows.append(dict(zip(columns, cells, strict=True)))
    return rows


def interval_cell(cell: str) -> tuple[float, float, float]:
    """``0.5 (0.478108–0.521892)`` → (value, low, high)."""
    match = re.fullmatch(r"([\d.e-]+) \(([\d.e-]+)–([\d.e-]+)\)", cell)
    assert match, f"not a value with its interval: {cell!r}"
    value, low, high = (float(g) for g in match.groups())
    return value, low, high


def group_entry(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """The fairness result's ``metrics.groups`` entry named like the card names it (``g=b``)."""
    for entry in payload["metrics"]["groups"]:
        if ", ".join(f"{k}={v}" for k, v in entry["group"].items()) == name:
            return dict(entry)
    raise AssertionError(f"no group {name!r} in the cited record")


def assert_eval_results_are_cited_numbers(
    eval_results: Sequence[Any], records: Sequence[EvidenceRecord]
) -> int:
    """Each model-index metric (huggingface_hub's EvalResult) equals the number of the record its name
    cites: a group's rate, or a criterion's value. Returns how many were compared."""
    for result in eval_results:
        [record] = citations(result.metric_name, records)
        assert record.kind == "check_result" and record.payload["kind"] == "fairness"
        label = CITATION.sub("", result.metric_name).strip()
        criteria = {f"{c['metric']}_{c['rule']}": c for c in record.payload["metrics"]["criteria"]}
        if result.metric_type in criteria:
            criterion = criteria[result.metric_type]
            assert label.endswith(" vs ".join(criterion["groups_compared"]))
            assert result.metric_value == criterion["value"]
        else:
            group = group_entry(record.payload, label.split(", ", 1)[1])
            assert not group.get("suppressed"), "a suppressed group's rate reached the metadata"
            assert result.metric_value == group["rates"][result.metric_type]["value"]
        if result.dataset_revision is not None:  # the fingerprint of the data the check read
            inputs = [v for v in record.payload["inputs"].values() if isinstance(v, Mapping)]
            assert result.dataset_revision in {v.get("sha256") for v in inputs}
    return len(eval_results)
