"""What each policy field is, read from the models: type, allowed values, default and an example.

One source for the policy reference (:mod:`release_gates.policy.reference`), the validator's
messages (a missing field says what to write) and the JSON Schema editors validate against.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from release_gates.kinds.fields import format_duration

#: Validator functions of the policy's field types → how the reference names the type.
_VALIDATED_TYPES = {
    "duration_input": "duration",
    "_non_negative_duration": "duration (0 allowed)",
    "severity_input": "severity",
    "_fraction": "number 0–1",
    "_open_unit": "number strictly between 0 and 1",
    "_positive": "number > 0",
    "_identifier": "name (lower_snake_case)",
    "_schedule": "schedule (cron, @daily…, or a duration)",
}
_SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO")
#: Examples of a type when the field gives none and has no default.
_TYPE_EXAMPLES: dict[str, Any] = {
    "duration": "24h",
    "duration (0 allowed)": "2d",
    "severity": "HIGH",
    "number 0–1": 0.8,
    "number strictly between 0 and 1": 0.95,
    "number > 0": 0.1,
    "name (lower_snake_case)": "my_name",
    "schedule (cron, @daily…, or a duration)": "@daily",
}


@dataclass(frozen=True)
class FieldDoc:
    """One field of a policy model, as the reference shows it."""

    name: str
    type_name: str
    required: bool
    default: str | None
    allowed: str | None
    example: str
    description: str
    #: Policy models nested in this field (sections the reference documents next).
    models: tuple[type[BaseModel], ...]


def field_docs(model: type[BaseModel]) -> list[FieldDoc]:
    return [describe_field(name, info) for name, info in model.model_fields.items()]


def describe_field(name: str, info: FieldInfo) -> FieldDoc:
    annotation = _with_metadata(info)
    required = info.is_required()
    default = None if required else _default_of(info)
    return FieldDoc(
        name=name,
        type_name=type_text(annotation),
        required=required,
        default=None if default is None else _yaml_inline(default),
        allowed=_allowed(annotation),
        example=example_line(name, info),
        description=info.description or "",
        models=tuple(nested_models(annotation)),
    )


def example_value(name: str, info: FieldInfo) -> Any:
    """A value to write for this field: its example, else its default, else one its type accepts."""
    if info.examples:
        return _plain(info.examples[0])
    if not info.is_required():
        default = _default_of(info)
        if default not in (None, [], {}, ""):
            return default
    return _example_of(_with_metadata(info), name)


def example_line(name: str, info: FieldInfo) -> str:
    """``name: value`` in YAML flow style, one line."""
    return f"{name}: {_yaml_inline(example_value(name, info))}"


def model_example(model: type[BaseModel]) -> dict[str, Any]:
    """The smallest mapping of ``model``: its required fields, each with an example."""
    return {
        name: example_value(name, info) for name, info in model.model_fields.items() if info.is_required()
    }


def type_text(annotation: Any) -> str:
    """A reader's name for a field type: ``list of string``, ``mapping name → Dataset``…"""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *metadata = get_args(annotation)
        named = _validated_name(metadata)
        if named:
            return named
        bounds = _bounds(metadata)
        return type_text(base) + (f" {bounds}" if bounds else "")
    if origin in (Union, UnionType):
        options = [type_text(a) for a in get_args(annotation) if a is not type(None)]
        return " or ".join(dict.fromkeys(options))
    if origin is Literal:
        return "one of the allowed values"
    if origin is list:
        return f"list of {type_text(get_args(annotation)[0])}"
    if origin is dict:
        key, value = get_args(annotation)
        return f"mapping {type_text(key)} → {type_text(value)}"
    return _plain_type(annotation)


def nested_models(annotation: Any) -> list[type[BaseModel]]:
    """Every policy model inside an annotation, in order."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        for model in nested_models(arg):
            if model not in found:
                found.append(model)
    return found


def _with_metadata(info: FieldInfo) -> Any:
    # pydantic moves a field's outer Annotated metadata onto the FieldInfo: put it back.
    annotation = info.annotation
    metadata = [m for m in info.metadata if not isinstance(m, FieldInfo)]
    return Annotated[annotation, *metadata] if metadata else annotation


def _validated_name(metadata: list[Any]) -> str | None:
    for item in metadata:
        function = getattr(item, "func", None)
        name = getattr(function, "__name__", None)
        if name in _VALIDATED_TYPES:
            return _VALIDATED_TYPES[name]
    return None


def _bounds(metadata: list[Any]) -> str:
    words = []
    for item in metadata:
        for constraint in getattr(item, "metadata", [item]):
            if isinstance(constraint, annotated_types.Ge):
                words.append(f"≥ {constraint.ge}")
            elif isinstance(constraint, annotated_types.Gt):
                words.append(f"> {constraint.gt}")
            elif isinstance(constraint, annotated_types.Le):
                words.append(f"≤ {constraint.le}")
    return " ".join(words)


def _plain_type(annotation: Any) -> str:
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return annotation.__name__
        if issubclass(annotation, enum.Enum):
            return "severity" if annotation.__name__ == "Severity" else "one of the allowed values"
        names = {
            str: "string",
            int: "integer",
            float: "number",
            bool: "true/false",
            timedelta: "duration",
            datetime: "date-time",
            date: "date (YYYY-MM-DD)",
        }
        for kind, text in names.items():
            if issubclass(annotation, kind) and not (kind is int and annotation is bool):
                return text
    return str(annotation).replace("typing.", "")


def _allowed(annotation: Any) -> str | None:
    values = _literal_values(annotation)
    if values:
        return ", ".join(str(v) for v in values)
    text = type_text(annotation)
    if "severity" in text:
        return ", ".join(_SEVERITIES) + " (any case)"
    return None


def _literal_values(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is Literal:
        return list(get_args(annotation))
    if origin in (Union, UnionType, Annotated):
        values: list[Any] = []
        for arg in get_args(annotation)[: 1 if origin is Annotated else None]:
            values += _literal_values(arg)
        return values
    return []


def _default_of(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return None
    else:
        value = info.default
    return _plain(value)


def _plain(value: Any) -> Any:
    """A value as YAML would hold it: durations as ``24h``, severities and models as plain data."""
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, BaseModel):
        return {k: _plain(v) for k, v in value.model_dump(exclude_defaults=True).items()}
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _example_of(annotation: Any, name: str) -> Any:
    origin = get_origin(annotation)
    named = _validated_name(list(get_args(annotation)[1:])) if origin is Annotated else None
    if named:
        return _TYPE_EXAMPLES[named]
    if origin is Annotated:
        return _example_of(get_args(annotation)[0], name)
    if origin in (Union, UnionType):
        return _example_of(next(a for a in get_args(annotation) if a is not type(None)), name)
    if origin is Literal:
        return get_args(annotation)[0]
    if origin is list:
        return [_example_of(get_args(annotation)[0], name.rstrip("s"))]
    if origin is dict:
        return {"name": _example_of(get_args(annotation)[1], name)}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_example(annotation)
    return _scalar_example(annotation, name)


def _scalar_example(annotation: Any, name: str) -> Any:
    if annotation is bool:
        return True
    if annotation is int:
        return 1
    if annotation is float:
        return 0.5
    if annotation is timedelta:
        return "24h"
    if annotation is date:
        return "2030-12-31"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return next(iter(annotation)).value
    return f"<{name}>"


def _yaml_inline(value: Any) -> str:
    if isinstance(value, dict | list):
        text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
        return text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        dumped = yaml.safe_dump(value, default_style=None, width=10_000).strip()
        return dumped.removesuffix("\n...").removesuffix("...").strip() if value else '""'
    return json.dumps(value) if not isinstance(value, int | float) else str(value)
