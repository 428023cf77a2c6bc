"""``python -m agents.purchases.ledger ...``: see :mod:`agents.purchases.ledger.cli`."""

import sys

from agents.purchases.ledger.cli import main

sys.exit(main())
