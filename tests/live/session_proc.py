"""A session's loop as its own process, for tests: ``python -m tests.live.session_proc ID [FAULT]``.

FAULT plants a defect or a crash (the loop is the real one; only the named call is wrapped):
- ``late``: the paper broker's fills reach the session one bar late (a planted parity bug);
- ``crash-journal`` / ``crash-submit`` / ``crash-fill``: SIGKILL itself right after the first
  order is journaled, after the first submit returns, after the first fill is applied. The marker
  file ``$STOCKBOT_HOME/crashed-<fault>`` makes the restarted process run through.
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
        journal = LiveStore.journal

        def journal_then_die(self, session_id, order):  # type: ignore[no-untyped-def]
            out = journal(self, session_id, order)
            if out:
                _die_once(fault)
            return out

        LiveStore.journal = journal_then_die  # type: ignore[method-assign]
    elif fault == "crash-submit":
        submit = PaperBroker.submit

        def submit_then_die(self, order):  # type: ignore[no-untyped-def]
            out = submit(self, order)
            _die_once(fault)
            return out

        PaperBroker.submit = submit_then_die  # type: ignore[method-assign]
    elif fault == "crash-fill":
        take = LiveSession._take_fills

        def fill_then_die(self, simulated):  # type: ignore[no-untyped-def]
            out = take(self, simulated)
            if out:
                _die_once(fault)
            return out

        LiveSession._take_fills = fill_then_die  # type: ignore[method-assign]
    elif fault:
        raise SystemExit(f"unknown fault {fault!r}")


if __name__ == "__main__":
    plant(sys.argv[2] if len(sys.argv) > 2 else "")
    print(LiveSession(LiveStore(), sys.argv[1]).run())
