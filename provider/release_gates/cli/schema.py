"""``release-gates schema``: the published CheckResult JSON Schema."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from release_gates.cli.common import EXIT_OK


def print_schema(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.results import json_schema

    print(json.dumps(json_schema(), indent=2, sort_keys=True), file=out)
    return EXIT_OK
