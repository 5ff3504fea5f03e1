"""YAML loading that remembers where every value came from.

The release policy is read by people at 3 a.m. from an error message, so every problem must name the
file and line. PyYAML's composed node tree carries marks; we keep a map from field path to line.

Two deliberate departures from PyYAML's defaults:

* duplicate keys are an error (PyYAML silently keeps the last one);
* only ``true``/``false`` are booleans (YAML 1.2), so ``afam: yes`` stays the string ``"yes"`` —
  group values in real data are often literally "yes"/"no".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from release_gates.exceptions import ReleaseGatesError

Path_ = tuple[str | int, ...]


class _StrictLoader(yaml.SafeLoader):
    pass


# Replace the YAML 1.1 boolean resolver (yes/no/on/off) by the YAML 1.2 one.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


@dataclass
class YamlProblem:
    line: int | None
    path: Path_
    message: str


@dataclass
class LocatedYaml:
    """Parsed data plus the 1-based line of every key and sequence item."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """Line of ``path``, or of its nearest existing ancestor (a missing field is reported there)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


class YamlSyntaxError(ReleaseGatesError, ValueError):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def load_located(text: str) -> tuple[LocatedYaml, list[YamlProblem]]:
    """Parse one YAML document; returns the data, a line map, and duplicate-key problems."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return LocatedYaml(data=None), []
        problems: list[YamlProblem] = []
        lines: dict[Path_, int] = {(): node.start_mark.line + 1}
        _index(loader, node, (), lines, problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        if exc.context_mark is not None and mark is not None and exc.context_mark.line != mark.line:
            message += f" (the construct started at line {exc.context_mark.line + 1})"
        raise YamlSyntaxError(line, f"YAML syntax error: {message}") from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(None, f"YAML syntax error: {exc}") from exc
    finally:
        loader.dispose()
    return LocatedYaml(data=data, lines=lines), problems


def _index(
    loader: _StrictLoader, node: yaml.Node, path: Path_, lines: dict[Path_, int], problems: list[YamlProblem]
) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            # Key by the text of the value YAML will construct (42, True, None → "42", "True", "None"),
            # which is how error paths name mapping keys.
            key = str(loader.construct_object(key_node, deep=True))
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(
                    YamlProblem(line, (*path, key), f"duplicate key (first defined at line {seen[key]})")
                )
                continue
            seen[key] = line
            lines[(*path, key)] = line
            _index(loader, value_node, (*path, key), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _index(loader, item, (*path, i), lines, problems)


def format_path(path: Path_) -> str:
    """``('gates', 1, 'checks', 0, 'ratio_min')`` → ``gates[1].checks[0].ratio_min``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"
