"""``release-gates check <kind>`` commands: one module per check kind, each exposing ``COMMAND``.

The check-kind registry (:data:`release_gates.kinds.CHECK_KINDS`) names each module; modules stay
light at import (argparse declarations only) and import engines, datasets and hooks when they run.
"""
