"""JupyterHub wiring for StockBot (authenticator, spawner, services, roles).

Not built yet: the hub, its StockBot service and broker OAuth arrive with the platform issue. Until
then this file refuses to start a hub rather than start one that looks like StockBot and is not.
"""

import sys

sys.exit(
    "StockBot's JupyterHub wiring is not built yet (it arrives with the platform issue). "
    "Use `make run` for the data -> features -> regimes demo."
)
