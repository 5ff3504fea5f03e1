"""The datasets a check may read: declared in the policy (or passed with a spec), overrides applied."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.datasets import mask_password
from release_gates.exceptions import DatasetError
from release_gates.inputs.overrides import (
    DatasetOverride,
    DatasetOverrideError,
    allowed_overrides,
    parse_overrides,
)
from release_gates.policy import Dataset

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.datasets import ConnectionResolver, DatasetLocation

log = logging.getLogger(__name__)

__all__ = [
    "DatasetCatalog",
    "DatasetOverride",
    "DatasetOverrideError",
    "allowed_overrides",
    "apply_override",
    "parse_overrides",
]


def apply_override(name: str, dataset: Dataset, override: DatasetOverride | None) -> Dataset:
    """The dataset with this run's (already allowed) override applied.

    The override's sha256 becomes the dataset's pin, so lineage verifies the content the run names;
    an override without one (allowed only for a dataset the policy does not pin) leaves it unpinned.
    """
    if override is None:
        return dataset
    log.info(
        "Dataset %s: using %s for this run (policy: %s)",
        name, mask_password(override.uri), mask_password(dataset.uri),
    )  # fmt: skip
    return dataset.model_copy(update={"uri": override.uri, "sha256": override.sha256})


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
        overrides: Mapping[str, Any] | str | None = None,
        base_dir: str | Path | None = None,
        resolve_connection: ConnectionResolver | None = None,
    ) -> DatasetCatalog:
        """A catalog of ``declared`` datasets (models or policy-style mappings) with ``overrides``.

        Every override is checked against its dataset's allow-list first; one the policy does not
        allow raises :class:`~release_gates.inputs.overrides.DatasetOverrideError` (the check ERRORs).
        """
        models = {
            name: value if isinstance(value, Dataset) else Dataset.model_validate(value)
            for name, value in declared.items()
        }
        wanted = allowed_overrides(models, overrides, base_dir=base_dir)
        datasets = {name: apply_override(name, dataset, wanted.get(name)) for name, dataset in models.items()}
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
