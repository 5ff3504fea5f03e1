"""YAML loading that remembers where every value came from.

The release policy is read by people at 3 a.m. from an error message, so every problem must name the
file and line. PyYAML's composed node tree carries marks; we keep a map from field path to line.

Deliberate departures from PyYAML's defaults:

* duplicate keys are an error (PyYAML silently keeps the last one);
* only ``true``/``false`` are booleans (YAML 1.2), so ``afam: yes`` stays the string ``"yes"`` —
  group values in real data are often literally "yes"/"no";
* aliases are bounded: a document whose aliases expand to more than :data:`MAX_EXPANDED_NODES`
  nodes (a "billion laughs" file grows ninefold per level from a few hundred bytes) or whose anchor
  refers to itself is an error, found while indexing lines, before anything is constructed.

The C parser (libyaml) is used when PyYAML has it, so a 1 MiB policy parses in a fraction of a second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from release_gates.exceptions import ReleaseGatesError

Path_ = tuple[str | int, ...]


#: Nodes a document may expand to, aliases counted once per use: generous for any real policy (the
#: example policy has about 600), small enough that validating the expansion stays fast.
MAX_EXPANDED_NODES = 20_000

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):  # type: ignore[valid-type,misc]
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
        index = _LineIndex(loader)
        index.lines[()] = node.start_mark.line + 1
        index.walk(node, ())
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
    return LocatedYaml(data=data, lines=index.lines), index.problems


class _LineIndex:
    """Walks the composed node graph once: the line of every key and item, duplicate keys, and the
    bounds on aliases (an alias's target is walked, and counted, at every use)."""

    def __init__(self, loader: _StrictLoader) -> None:
        self.loader = loader
        self.lines: dict[Path_, int] = {}
        self.problems: list[YamlProblem] = []
        self.visited = 0
        self.open_nodes: set[int] = set()

    def walk(self, node: yaml.Node, path: Path_) -> None:
        self.visited += 1
        if self.visited > MAX_EXPANDED_NODES:
            raise YamlSyntaxError(
                node.start_mark.line + 1,
                f"the document expands to more than {MAX_EXPANDED_NODES} values through its aliases "
                "(anchors used over and over); write the values out or use fewer aliases",
            )
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            return
        if id(node) in self.open_nodes:
            raise YamlSyntaxError(
                node.start_mark.line + 1, "an anchor refers to itself (an alias inside the value it names)"
            )
        self.open_nodes.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                self._mapping(node, path)
            else:
                for i, item in enumerate(node.value):
                    self.lines[(*path, i)] = item.start_mark.line + 1
                    self.walk(item, (*path, i))
        finally:
            self.open_nodes.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> None:
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            # Key by the text of the value YAML will construct (42, True, None → "42", "True", "None"),
            # which is how error paths name mapping keys.
            key = str(self.loader.construct_object(key_node, deep=True))
            line = key_node.start_mark.line + 1
            if key in seen:
                self.problems.append(
                    YamlProblem(line, (*path, key), f"duplicate key (first defined at line {seen[key]})")
                )
            # A duplicate's value is walked too: it is the one YAML keeps, so it must count against the
            # alias budget (or a bomb could hide behind a repeated key).
            seen.setdefault(key, line)
            self.lines[(*path, key)] = line
            self.walk(value_node, (*path, key))


def format_path(path: Path_) -> str:
    """``('gates', 1, 'checks', 0, 'ratio_min')`` → ``gates[1].checks[0].ratio_min``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"
