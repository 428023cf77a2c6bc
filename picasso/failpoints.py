"""Failpoints: named places where a test can make a process die on purpose.

``PICASSO_FAILPOINTS=purchases.after_create_intent`` makes the process kill itself with
SIGKILL when it reaches that point, which is how the tests crash a worker at the one moment
that matters (e.g. between creating a PaymentIntent at Stripe and recording it in the
ledger) instead of hoping a timed kill lands there. Unset in production: a lookup in an
empty frozenset.
"""

from __future__ import annotations

import os
import signal
import sys

ENV = "PICASSO_FAILPOINTS"
_ARMED = frozenset(name.strip() for name in os.environ.get(ENV, "").split(",") if name.strip())


def failpoint(name: str) -> None:
    """Die at once, with no clean-up at all, if the failpoint ``name`` is armed."""
    if name in _ARMED:
        print(f"failpoint {name}: SIGKILL", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
