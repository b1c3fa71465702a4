"""A session's loop as its own process, for tests: ``python -m tests.live.session_proc ID [FAULT]``.

FAULT plants a defect or a crash (the loop is the real one; only the named call is wrapped):
- ``late``: the paper broker's fills reach the session one bar late (a planted parity bug);
- ``crash-journal`` / ``crash-submit`` / ``crash-fill``: SIGKILL itself once the first orders are
  journaled (and marked submitted) but before they are sent, right after the first submit
  returns, after the first fill is applied. The marker file ``$STOCKBOT_HOME/crashed-<fault>``
  makes the restarted process run through.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from stockbot.brokers.paper import PaperBroker
from stockbot.live.session import LiveSession
from stockbot.live.store import LiveStore


def _die_once(fault: str) -> None:
    marker = Path(os.environ["STOCKBOT_HOME"]) / f"crashed-{fault}"
    if not marker.exists():
        marker.write_text("1")
        os.kill(os.getpid(), signal.SIGKILL)


def plant(fault: str) -> None:
    if fault == "late":
        original = PaperBroker.on_bar
        held: list = []

        def late(self, bar):  # type: ignore[no-untyped-def]
            if held:
                original(self, held.pop())
            held.append(bar)

        PaperBroker.on_bar = late  # type: ignore[method-assign]
    elif fault == "crash-journal":
        submit_many = PaperBroker.submit_many

        def die_before_sending(self, orders):  # type: ignore[no-untyped-def]
            if orders:
                _die_once(fault)
            return submit_many(self, orders)

        PaperBroker.submit_many = die_before_sending  # type: ignore[method-assign]
    elif fault == "crash-submit":
        sent = PaperBroker.submit_many

        def submit_then_die(self, orders):  # type: ignore[no-untyped-def]
            out = sent(self, orders)
            if orders:
                _die_once(fault)
            return out

        PaperBroker.submit_many = submit_then_die  # type: ignore[method-assign]
    elif fault == "crash-fill":
        take = LiveSession._take_fills

        def fill_then_die(self, simulated, bar=None):  # type: ignore[no-untyped-def]
            out = take(self, simulated, bar)
            if out:
                _die_once(fault)
            return out

        LiveSession._take_fills = fill_then_die  # type: ignore[method-assign]
    elif fault:
        raise SystemExit(f"unknown fault {fault!r}")


if __name__ == "__main__":
    plant(sys.argv[2] if len(sys.argv) > 2 else "")
    print(LiveSession(LiveStore(), sys.argv[1]).run())
