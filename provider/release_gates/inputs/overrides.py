"""A run's dataset overrides, and the one rule set that decides which the policy allows.

The release DAG's ``datasets`` trigger parameter maps a policy dataset name to either a URI (only for
a dataset the policy does not pin) or ``{"uri": …, "sha256": …}``. Run parameters may narrow what
the reviewed policy says, never loosen it, so an override is refused unless:

* the dataset is declared and its policy entry has an ``overrides`` allow-list;
* a pinned dataset (``sha256`` in the policy) is given a new ``sha256`` with it, which becomes the pin
  lineage verifies;
* the URI carries no credentials, no ``query=``, and is not a raw database URL (those stay in the
  policy file, where a reviewer reads them);
* a local path or object URI lies under one of the allow-listed prefixes once normalised (no ``..``;
  relative paths resolve against the policy's directory); an ``sql://<conn>/<table>`` names an
  allow-listed connection and an allow-listed table.

The same :func:`allowed_overrides` runs when the release starts (refusing the run before anything is
checked) and when a check builds its dataset catalog (failing closed), so the two cannot disagree.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from release_gates.datasets import is_sql_uri, local_path, mask_password
from release_gates.exceptions import DatasetError

if TYPE_CHECKING:
    from release_gates.policy.sections import Dataset

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_LOCAL_SCHEMES = ("file", "local")

#: The ``datasets`` trigger parameter's JSON schema: name → uri, or name → {uri, sha256}.
OVERRIDES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {
                    "uri": {"type": "string", "minLength": 1},
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                },
                "required": ["uri"],
                "additionalProperties": False,
            },
        ]
    },
}


class DatasetOverrideError(DatasetError):
    """A run asked for a dataset override the policy does not allow (or that is malformed)."""


@dataclass(frozen=True)
class DatasetOverride:
    """One dataset's replacement for this run: where it is and, when given, its content pin."""

    uri: str
    sha256: str | None = None

    def masked(self) -> dict[str, str | None]:
        """For evidence and logs: the URI with any password masked."""
        return {"uri": mask_password(self.uri), "sha256": self.sha256}


def parse_overrides(raw: Mapping[str, Any] | str | None) -> dict[str, DatasetOverride]:
    """The trigger parameter as overrides (the DAG may render it as JSON text); shape only.

    An empty string means "no override" (a trigger form's blank field).
    """
    if raw is None:
        return {}
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return {}
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetOverrideError(f"dataset overrides are not a JSON object: {exc.msg}") from None
    if not isinstance(raw, Mapping):
        raise DatasetOverrideError(
            f"dataset overrides must map dataset names to a uri or {{uri, sha256}}, got {type(raw).__name__}"
        )
    parsed: dict[str, DatasetOverride] = {}
    for name, value in raw.items():
        override = _one(str(name), value)
        if override is not None:
            parsed[str(name)] = override
    return parsed


def _one(name: str, value: Any) -> DatasetOverride | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return DatasetOverride(uri=value)
    if isinstance(value, Mapping):
        unknown = sorted(set(map(str, value)) - {"uri", "sha256"})
        uri, sha256 = value.get("uri"), value.get("sha256")
        if unknown or not isinstance(uri, str) or not uri:
            raise DatasetOverrideError(
                f"dataset {name!r}: an override is a uri or {{uri, sha256}}"
                + (f" (unknown key(s): {', '.join(unknown)})" if unknown else "")
            )
        if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.match(sha256)):
            raise DatasetOverrideError(
                f"dataset {name!r}: override sha256 must be 64 lower-case hex characters"
            )
        return DatasetOverride(uri=uri, sha256=sha256 or None)
    raise DatasetOverrideError(
        f"dataset {name!r}: an override is a uri or {{uri, sha256}}, got {type(value).__name__}"
    )


def allowed_overrides(
    declared: Mapping[str, Dataset],
    raw: Mapping[str, Any] | str | None,
    *,
    base_dir: str | Path | None,
) -> dict[str, DatasetOverride]:
    """The run's overrides that change something, each checked against its dataset's allow-list.

    Raises :class:`DatasetOverrideError` (one line: the dataset and the rule) on the first refusal.
    An override identical to the policy entry is dropped: it changes nothing.
    """
    accepted: dict[str, DatasetOverride] = {}
    for name, override in parse_overrides(raw).items():
        dataset = declared.get(name)
        if dataset is None:
            known = ", ".join(sorted(declared)) or "none"
            raise _refused(name, f"no such dataset in the policy (declared: {known})")
        if override.uri == dataset.uri and override.sha256 in (None, dataset.sha256):
            continue
        check_override(name, dataset, override, base_dir=base_dir)
        accepted[name] = override
    return accepted


def check_override(
    name: str, dataset: Dataset, override: DatasetOverride, *, base_dir: str | Path | None
) -> None:
    """Raise :class:`DatasetOverrideError` unless the policy allows ``override`` for ``dataset``."""
    allow = dataset.overrides
    if allow is None:
        raise _refused(name, "the policy allows no run override for it (no 'overrides' allow-list)")
    if dataset.sha256 is not None and override.sha256 is None:
        raise _refused(name, "it is pinned (sha256); an override must carry its own sha256: {uri, sha256}")
    uri = override.uri
    scheme = _scheme(uri)
    if _has_password(uri, scheme):
        raise _refused(name, "credentials in a run parameter; name an allow-listed connection instead")
    if any(key.lower() == "query" for key, _ in parse_qsl(urlsplit(uri).query, keep_blank_values=True)):
        raise _refused(name, "query= in a run parameter; a query belongs in the reviewed policy file")
    if scheme == "sql":
        _check_sql(name, uri, allow.connections, allow.tables)
        return
    if is_sql_uri(uri, dataset.format):
        raise _refused(
            name, "a raw database URL in a run parameter; use sql://<connection>/<table> from the allow-list"
        )
    if scheme is None or scheme in _LOCAL_SCHEMES:
        _check_local(name, uri, allow.uri_prefixes, base_dir)
    else:
        _check_object(name, uri, scheme, allow.uri_prefixes)


def _refused(name: str, rule: str) -> DatasetOverrideError:
    return DatasetOverrideError(f"dataset {name!r}: run override refused: {rule}")


def _scheme(uri: str) -> str | None:
    match = _SCHEME.match(uri)
    return match.group(1).lower() if match else None


def _has_password(uri: str, scheme: str | None) -> bool:
    if scheme is None:
        return False
    return mask_password(uri) != uri


def _check_sql(name: str, uri: str, connections: list[str], tables: list[str]) -> None:
    parts = urlsplit(uri)
    if parts.query or parts.fragment:
        raise _refused(name, "an sql:// override takes no parameters: sql://<connection>/<table>")
    connection = unquote(parts.netloc)
    table = unquote(parts.path.lstrip("/"))
    if connection not in connections:
        raise _refused(name, f"connection {connection!r} is not in the dataset's overrides.connections")
    if not table or table not in tables:
        raise _refused(name, f"table {table!r} is not in the dataset's overrides.tables")


def _normal_local(uri: str, base_dir: str | Path | None) -> Path:
    path = uri
    for scheme in _LOCAL_SCHEMES:
        path = path.removeprefix(f"{scheme}://")
    # resolve(): ".." and symlinks are followed before the comparison, so neither escapes a prefix.
    return local_path(path, base_dir=base_dir if base_dir is not None else Path.cwd()).resolve()


def _check_local(name: str, uri: str, prefixes: list[str], base_dir: str | Path | None) -> None:
    target = _normal_local(uri, base_dir)
    for prefix in prefixes:
        if _scheme(prefix) not in (None, *_LOCAL_SCHEMES):
            continue
        if target.is_relative_to(_normal_local(prefix, base_dir)):
            return
    raise _refused(name, "the path is under none of the dataset's overrides.uri_prefixes")


def _check_object(name: str, uri: str, scheme: str, prefixes: list[str]) -> None:
    parts = urlsplit(uri)
    if parts.query or parts.fragment:
        raise _refused(name, "an object URI override takes no query or fragment")
    if any(segment in ("..", ".") for segment in parts.path.split("/")):
        raise _refused(name, "'.' or '..' in an object path")
    target = _normal_object(uri)
    for prefix in prefixes:
        if _scheme(prefix) == scheme and target.startswith(_normal_object(prefix).rstrip("/") + "/"):
            return
    raise _refused(name, "the URI is under none of the dataset's overrides.uri_prefixes")


def _normal_object(uri: str) -> str:
    """``scheme://netloc/path`` with the scheme and host lower-cased and empty segments collapsed."""
    parts = urlsplit(uri)
    path = posixpath.normpath(parts.path) if parts.path else "/"
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"
