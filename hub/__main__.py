"""``python -m hub``: the platform in the foreground (see hub/launch.py)."""

import sys

from hub.launch import main

sys.exit(main())
