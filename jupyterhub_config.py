"""JupyterHub for StockBot: wiring only (see hub/config.py). Start with `make run`, or
`jupyterhub -f jupyterhub_config.py` with the settings of the README."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from hub.config import configure  # noqa: E402
from stockbot.paths import private_umask  # noqa: E402

# the hub's database (password and token hashes), its secrets, and everything the processes it starts
# create (proxy, service, user servers' runtime files) are private to this account
private_umask()
configure(c, ROOT)  # noqa: F821 -- `c` is the config object JupyterHub provides
