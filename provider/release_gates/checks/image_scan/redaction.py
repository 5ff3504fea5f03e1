"""Keeping secret values out of every report, result and artifact this package stores or returns."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"


def redact_secrets(report: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """A copy of the report with no secret value left in it, and how many secrets it held.

    Trivy masks the value it matched, but not what it quotes around it: a secret's context lines
    (``Code.Lines``) may hold other credentials, and a misconfiguration quotes its source lines
    unmasked — DS-0031 "secret in ENV" quotes the very token the secret scanner masked, IaC checks
    quote hard-coded passwords. Which quoted line holds a secret cannot be told reliably, so none is
    kept: every ``Secrets[].Match``, every ``Code.Lines[].Content``/``Highlighted`` and every
    ``RenderedCause`` becomes ``[REDACTED]``. Findings keep file and line numbers. Build commands
    go the same way, since they can carry credentials: the image config Trivy copies into
    ``Metadata.ImageConfig`` (:func:`_redact_image_config`) and every layer's ``CreatedBy``. The
    input is not modified; results that quote nothing are shared, not copied.
    """
    redacted_report = {**report}
    metadata = report.get("Metadata")
    if isinstance(metadata, dict):
        metadata = {**metadata}
        if isinstance(metadata.get("ImageConfig"), dict):
            metadata["ImageConfig"] = _redact_image_config(metadata["ImageConfig"])
        if any(_has_created_by(layer) for layer in _list(metadata.get("Layers"))):
            metadata["Layers"] = [_without_created_by(layer) for layer in metadata["Layers"]]
        redacted_report["Metadata"] = metadata
    results = report.get("Results")
    if not isinstance(results, list):
        return redacted_report, 0
    count = 0
    redacted = []
    for result in results:
        if isinstance(result, dict) and (
            result.get("Secrets") or result.get("Misconfigurations") or _quotes_build_commands(result)
        ):
            copied, found = _redact_result(result)
            count += found
            redacted.append(copied)
        else:
            redacted.append(result)
    return {**redacted_report, "Results": redacted}, count


def _has_created_by(layer: Any) -> bool:
    return isinstance(layer, dict) and bool(layer.get("CreatedBy"))


def _without_created_by(layer: Any) -> Any:
    return {**layer, "CreatedBy": REDACTED} if _has_created_by(layer) else layer


def _quotes_build_commands(result: Mapping[str, Any]) -> bool:
    return any(
        isinstance(entry, dict) and _has_created_by(entry.get("Layer"))
        for key in ("Vulnerabilities", "Packages", "Licenses")
        for entry in _list(result.get(key))
    )


def _redact_image_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The image config without what can carry credentials: ENV values (names stay) and the build
    commands of the history (``ENV``/``ARG``/``RUN`` lines). Entrypoint, command and labels are
    dropped too; platform, creation time, user, ports and the layer digests stay."""
    kept: dict[str, Any] = {
        k: config[k] for k in ("architecture", "os", "variant", "created", "rootfs") if k in config
    }
    inner = config.get("config")
    if isinstance(inner, dict):
        runtime: dict[str, Any] = {k: inner[k] for k in ("User", "WorkingDir", "ExposedPorts") if k in inner}
        env = inner.get("Env")
        if isinstance(env, list):
            runtime["Env"] = [f"{str(e).split('=', 1)[0]}={REDACTED}" for e in env]
        kept["config"] = runtime
    history = config.get("history")
    if isinstance(history, list):
        kept["history"] = [
            {**{k: h[k] for k in ("created", "empty_layer") if k in h}, "created_by": REDACTED}
            for h in history
            if isinstance(h, dict)
        ]
    return kept


def _redact_result(result: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    copied = copy.deepcopy(dict(result))
    for key in ("Vulnerabilities", "Packages", "Licenses", "Secrets", "Misconfigurations"):
        for entry in _list(copied.get(key)):
            if isinstance(entry, dict) and _has_created_by(entry.get("Layer")):
                entry["Layer"]["CreatedBy"] = REDACTED
    secrets = [s for s in _list(copied.get("Secrets")) if isinstance(s, dict)]
    for secret in secrets:
        if "Match" in secret:
            secret["Match"] = REDACTED
        _redact_code(secret.get("Code"))
    for entry in _list(copied.get("Misconfigurations")):
        cause = entry.get("CauseMetadata") if isinstance(entry, dict) else None
        if isinstance(cause, dict):
            _redact_code(cause.get("Code"))
            rendered = cause.get("RenderedCause")
            if isinstance(rendered, dict):
                cause["RenderedCause"] = {k: REDACTED for k in rendered if rendered[k]}
    return copied, len(secrets)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _redact_code(code: Any) -> None:
    if not isinstance(code, dict):
        return
    for line in _list(code.get("Lines")):
        if isinstance(line, dict):
            for key in ("Content", "Highlighted"):
                if line.get(key):
                    line[key] = REDACTED
