"""Reading a policy file: YAML with line numbers → the model → cross-field rules; every problem at once."""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from release_gates._yaml import LocatedYaml, Path_, YamlSyntaxError, load_located
from release_gates.kinds import KIND_NAMES
from release_gates.policy.describe import example_line, model_example
from release_gates.policy.model import ReleasePolicy
from release_gates.policy.problems import PolicyError, PolicyProblem
from release_gates.policy.rules import cross_check
from release_gates.policy.sections import Approval, Dataset, OwnerRole

#: A policy is configuration written by people; anything bigger is a mistake or an attack.
MAX_POLICY_BYTES = 1 << 20

#: Names new users try (from other tools, or guessing) → the policy's fields that mean it. Only the
#: names the model at that place has are suggested.
FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "contact": ("email", "slack_channel"),
    "contacts": ("email", "slack_channel"),
    "mail": ("email",),
    "e_mail": ("email",),
    "slack": ("slack_channel",),
    "channel": ("slack_channel",),
    "members": ("users",),
    "people": ("users",),
    "user": ("users",),
    "approvers": ("roles", "users"),
    "role": ("roles", "owner"),
    "path": ("uri",),
    "file": ("uri",),
    "url": ("uri",),
    "location": ("uri",),
    "hash": ("sha256",),
    "checksum": ("sha256",),
    "digest": ("sha256",),
    "target": ("label", "target"),
    "target_column": ("label",),
    "label_column": ("label",),
    "y": ("label",),
    "prediction_column": ("prediction",),
    "predicted": ("prediction",),
    "score_column": ("score",),
    "probability": ("score",),
    "proba": ("score",),
    "protected_attributes": ("sensitive_features",),
    "protected_features": ("sensitive_features",),
    "sensitive": ("sensitive_features",),
    "sensitive_columns": ("sensitive_features",),
    "sensitive_attributes": ("sensitive_features",),
    "name": ("id", "model"),
    "model_name": ("model",),
    "version": ("policy_version", "version"),
    "type": ("kind", "type"),
    "check": ("kind",),
    "owners": ("owner",),
    "team": ("owner",),
    "expiry": ("expires",),
    "expires_on": ("expires",),
    "expiration": ("expires",),
    "reason": ("rationale", "statement"),
    "justification": ("rationale", "statement"),
    "sla": ("remediation_sla",),
    "tier": ("risk_tier",),
    "risk": ("risk_tier",),
    "data": ("datasets", "data"),
    "dataset": ("data", "datasets"),
    "metrics": ("criteria",),
    "thresholds": ("criteria", "max_findings"),
    "min_ratio": ("ratio_min",),
    "max_difference": ("difference_max",),
}

#: Sections that map a name to an entry: the entry model and an example name.
_KEYED_SECTIONS: dict[str, tuple[type[BaseModel], str]] = {
    "approvals": (Approval, "release"),
    "owners": (OwnerRole, "ml_owner"),
    "datasets": (Dataset, "eval"),
}


def _too_big(size: int) -> str:
    return f"the policy file is {size:,} bytes; the limit is {MAX_POLICY_BYTES:,} (1 MiB)"


def load_policy(path: str | Path) -> ReleasePolicy:
    """Read and validate a policy file; raises :class:`PolicyError` listing every problem."""
    path = Path(path)
    source = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)  # never read a huge file whole just to refuse it
    except OSError as exc:
        raise PolicyError(
            [PolicyProblem(source, None, (), f"cannot read policy file: {exc.strerror}")]
        ) from exc
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError([PolicyProblem(source, None, (), _too_big(path.stat().st_size))])
    return parse_policy(raw, source=source)


def parse_policy(text: str | bytes, *, source: str = "<string>") -> ReleasePolicy:
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError([PolicyProblem(source, None, (), _too_big(len(raw)))])
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([PolicyProblem(source, None, (), f"not UTF-8 text: {exc}")]) from exc
    try:
        located, dup_problems = load_located(decoded)
    except YamlSyntaxError as exc:
        raise PolicyError([PolicyProblem(source, exc.line, (), exc.message)]) from exc

    problems = [PolicyProblem(source, p.line, p.path, p.message) for p in dup_problems]
    if not isinstance(located.data, dict):
        kind = "empty" if located.data is None else f"a {type(located.data).__name__}"
        problems.append(PolicyProblem(source, 1, (), f"the policy must be a mapping, the file is {kind}"))
        raise PolicyError(problems)

    try:
        policy = ReleasePolicy.model_validate(located.data)
    except ValidationError as exc:
        problems += _translate(exc, located, source)
        raise PolicyError(problems) from None
    problems += [PolicyProblem(source, located.line_of(p), p, m) for p, m in cross_check(policy)]
    if problems:
        raise PolicyError(problems)
    policy._source = source
    policy._sha256 = hashlib.sha256(raw).hexdigest()
    return policy


def _translate(exc: ValidationError, located: LocatedYaml, source: str) -> list[PolicyProblem]:
    problems = []
    for error in exc.errors(include_url=False):
        path, missing = _data_path(error["loc"], located.data)
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path, missing = (*path, "kind"), error["type"] == "union_tag_not_found"
        message = _message(error, path, located, missing=missing)
        line = located.line_of(path if not missing else path[:-1])
        problems.append(PolicyProblem(source, line, path, message))
        if error["type"] == "union_tag_invalid":
            problems += _as_closest_kind(error["input"], path[:-1], located, source)
    return problems


def _as_closest_kind(check: Any, path: Path_, located: LocatedYaml, source: str) -> list[PolicyProblem]:
    """A misspelled ``kind`` would hide every other problem of the check until the next round: read
    it as the kind it most likely means and report those problems now, saying so."""
    from release_gates.kinds import check_kind

    if not isinstance(check, dict):
        return []
    close = difflib.get_close_matches(str(check.get("kind")), list(KIND_NAMES), n=1)
    if not close:
        return []
    spec = check_kind(close[0]).spec
    try:
        spec.model_validate({**check, "kind": close[0]})
    except ValidationError as exc:
        out = []
        for error in exc.errors(include_url=False):
            sub, missing = _data_path(error["loc"], check)
            full: Path_ = (*path, *sub)
            if error["type"] == "extra_forbidden" and len(sub) == 1:
                # The document's kind is not one the model walk knows: suggest from the spec itself.
                near = difflib.get_close_matches(str(sub[0]), list(spec.model_fields), n=1)
                message = f"unknown field (did you mean {near[0]!r}?)" if near else "unknown field"
            else:
                message = _message(error, full, located, missing=missing)
            line = located.line_of(full if not missing else full[:-1])
            out.append(PolicyProblem(source, line, full, f"{message} (read as kind {close[0]!r})"))
        return out
    return []


def _data_path(loc: tuple[str | int, ...], data: Any) -> tuple[Path_, bool]:
    """Map a pydantic error location onto the document, dropping union tags and validator names.

    Returns the path and whether its last element is absent from the document (a missing field).
    """
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if part == "[key]":
            # pydantic's marker for "the mapping key itself is invalid": the path already ends at it
            continue
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(str(part))  # mapping keys print as names, never as list indices
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif i == len(loc) - 1 and isinstance(node, dict):
            path.append(str(part))
            return tuple(path), True
        # otherwise: a discriminator tag ("fairness") or a validator name: skip it
    return tuple(path), False


def _message(error: Any, path: Path_, located: LocatedYaml, *, missing: bool = False) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing" + _what_to_write(path, located)
    if kind == "extra_forbidden":
        return _unknown_field_message(path, located)
    if kind in ("model_type", "model_attributes_type", "dict_type") and not missing:
        shape = _expected_shape(path, located)
        if shape:
            return shape
    if kind == "union_tag_invalid":
        given = str(error["input"].get("kind"))
        close = difflib.get_close_matches(given, list(KIND_NAMES), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(KIND_NAMES)}"
        return f"unknown check kind {given!r} ({hint})"
    if kind == "union_tag_not_found":
        return f"check needs a 'kind' (one of: {', '.join(KIND_NAMES)})"
    if kind == "literal_error":
        return f"{error['input']!r} is not allowed; expected {error['ctx']['expected']}"
    msg: str = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg[:1].lower() + msg[1:]


def _unknown_field_message(path: Path_, located: LocatedYaml) -> str:
    # Suggest the nearest known field: typos and other tools' names are the commonest policy mistakes.
    model = _model_at(path[:-1], located.data)
    known = list(model.model_fields) if model is not None else []
    names = suggested_fields(str(path[-1]), known)
    if not names:
        return "unknown field" + (f" (known: {', '.join(known)})" if known else "")
    return f"unknown field (did you mean {' or '.join(repr(n) for n in names)}?)"


def suggested_fields(name: str, known: list[str]) -> list[str]:
    """Known field names a writer of ``name`` probably meant: synonyms first, then close spellings."""
    wanted = name.strip().lower().replace("-", "_").replace(" ", "_")
    names = [n for n in FIELD_SYNONYMS.get(wanted, ()) if n in known]
    if wanted in known and wanted != name:
        names.insert(0, wanted)
    names += difflib.get_close_matches(wanted, known, n=1)
    return list(dict.fromkeys(names))


def _what_to_write(path: Path_, located: LocatedYaml) -> str:
    """`` (write `policy_version: 1`)``: the missing field with an example value."""
    model = _model_at(path[:-1], located.data)
    info = model.model_fields.get(str(path[-1])) if model is not None and path else None
    if info is None:
        return ""
    return f" (write `{example_line(str(path[-1]), info)}`)"


def _expected_shape(path: Path_, located: LocatedYaml) -> str | None:
    """For a list or scalar where a mapping belongs: what the mapping looks like."""
    if len(path) == 2 and path[0] in _KEYED_SECTIONS:
        # `approvals: {roles: [...]}` — the section maps a name to an entry, not the entry's fields
        section = str(path[0])
        entry, key = _KEYED_SECTIONS[section]
        example = {key: model_example(entry)}
        return (
            f"{section} maps a name to each entry, and {path[1]!r} is not a mapping of an entry's fields "
            f"— write e.g. `{section}: {_inline(example)}`"
        )
    model = _model_at(path, located.data)
    if model is not None:
        return f"expected a mapping like `{_inline(model_example(model))}`"
    parent = _model_at(path[:-1], located.data) if path else None
    info = parent.model_fields.get(str(path[-1])) if parent is not None else None
    return f"expected a mapping, e.g. `{example_line(str(path[-1]), info)}`" if info is not None else None


def _inline(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()


def _model_at(path: Path_, data: Any) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``path`` of the document, if any."""
    annotation: Any = ReleasePolicy
    node = data
    for part in path:
        model = _pick_model(annotation, node)
        if model is not None:
            field = model.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        else:
            args = [a for a in get_args(annotation) if a is not type(None)]
            container = get_origin(_strip_optional(annotation))
            if container is list:
                annotation = get_args(_strip_optional(annotation))[0]
            elif container is dict:
                annotation = get_args(_strip_optional(annotation))[1]
            elif not args:
                return None
        node = node[part]
    return _pick_model(annotation, node)


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _pick_model(annotation: Any, node: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin is Annotated:
        return _pick_model(get_args(annotation)[0], node)
    if origin in (Union, UnionType):
        models = [m for a in get_args(annotation) if (m := _pick_model(a, node)) is not None]
        if len(models) == 1:
            return models[0]
        kind = node.get("kind") if isinstance(node, dict) else None
        for model in models:
            kind_field = model.model_fields.get("kind")
            if kind_field is not None and kind in get_args(kind_field.annotation):
                return model
    return None
