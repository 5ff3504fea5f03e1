"""Input resolvers: one per check kind, shared by its operator, its CLI command and monitoring.

A resolver turns a check's spec and a :class:`~release_gates.inputs.catalog.DatasetCatalog` (the
datasets it may read, with this run's overrides applied) into what the kind's engine takes — frames
of the needed columns only, or aggregates computed where the data lives — plus the fingerprints
recorded in ``CheckResult.inputs``. Resolving inputs in one place is what keeps the operator and the
CLI judging the same data the same way.
"""
