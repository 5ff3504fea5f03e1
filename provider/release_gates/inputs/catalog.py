"""The datasets a check may read: declared in the policy (or passed with a spec), overrides applied."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import DatasetError
from release_gates.policy import Dataset

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.datasets import ConnectionResolver, DatasetLocation

log = logging.getLogger(__name__)


def parse_overrides(overrides: Mapping[str, str] | str | None) -> dict[str, str]:
    """A run's dataset overrides as a mapping (the DAG may render them as JSON text)."""
    if overrides is None:
        return {}
    if isinstance(overrides, str):
        text = overrides.strip()
        if not text:
            return {}
        try:
            overrides = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"dataset overrides are not a JSON object: {exc.msg}") from exc
    if not isinstance(overrides, Mapping):
        raise DatasetError(
            f"dataset overrides must map dataset names to URIs, got {type(overrides).__name__}"
        )
    return {str(name): str(uri) for name, uri in overrides.items() if uri}


def apply_override(name: str, dataset: Dataset, overrides: Mapping[str, str]) -> Dataset:
    """The dataset with this run's override applied (a new uri drops the old sha256 pin)."""
    uri = overrides.get(name)
    if not uri or uri == dataset.uri:
        return dataset
    log.info("Dataset %s: using %s for this run (policy: %s)", name, uri, dataset.uri)
    return dataset.model_copy(update={"uri": uri, "sha256": None})


@dataclass(frozen=True)
class DatasetCatalog:
    """Name → :class:`Dataset` for one check run, with where relative paths and connections resolve.

    Build it with :meth:`build`; resolvers read datasets only through it.
    """

    datasets: Mapping[str, Dataset] = field(default_factory=dict)
    base_dir: Path | None = None
    resolve_connection: ConnectionResolver | None = None

    @classmethod
    def build(
        cls,
        declared: Mapping[str, Dataset | Mapping[str, Any]],
        *,
        overrides: Mapping[str, str] | str | None = None,
        base_dir: str | Path | None = None,
        resolve_connection: ConnectionResolver | None = None,
    ) -> DatasetCatalog:
        """A catalog of ``declared`` datasets (models or policy-style mappings) with ``overrides``."""
        wanted = parse_overrides(overrides)
        datasets = {
            name: apply_override(
                name, value if isinstance(value, Dataset) else Dataset.model_validate(value), wanted
            )
            for name, value in declared.items()
        }
        return cls(
            datasets=datasets,
            base_dir=Path(base_dir) if base_dir is not None else None,
            resolve_connection=resolve_connection,
        )

    def dataset(self, name: str) -> Dataset:
        try:
            return self.datasets[name]
        except KeyError:
            known = ", ".join(sorted(self.datasets)) or "none"
            raise DatasetError(f"dataset {name!r} is not declared (declared: {known})") from None

    def locate(self, name: str) -> DatasetLocation:
        from release_gates.datasets import locate

        return locate(
            name, self.dataset(name), base_dir=self.base_dir, resolve_connection=self.resolve_connection
        )

    def fingerprint(self, name: str, location: DatasetLocation | None = None) -> dict[str, Any]:
        from release_gates.datasets import fingerprint

        return fingerprint(name, self.dataset(name), location=location or self.locate(name))

    def load(
        self, name: str, *, columns: list[str] | None = None, location: DatasetLocation | None = None
    ) -> pd.DataFrame:
        """The dataset as a frame; with ``columns``, only those columns are read from files."""
        from release_gates.datasets import load_frame

        return load_frame(name, self.dataset(name), columns=columns, location=location or self.locate(name))
