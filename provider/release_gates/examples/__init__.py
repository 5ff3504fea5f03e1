"""Example files that ship with the package: the complete, commented release policy.

``release-gates policy example`` prints it; ``release-gates init`` writes a policy of your own.
"""

from __future__ import annotations

from importlib import resources

EXAMPLE_POLICY = "release_policy.yaml"


def example_policy_text() -> str:
    """The packaged example policy's text (it validates as it is)."""
    return resources.files(__package__).joinpath(EXAMPLE_POLICY).read_text(encoding="utf-8")
