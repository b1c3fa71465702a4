"""``python -m stockbot.jobs``: the executor daemon (started by ``stockbot executor start``)."""

from __future__ import annotations

import argparse
import logging
import os
import signal

from stockbot.jobs.executor import DaskExecutor, Executor, LocalExecutor, shutdown
from stockbot.paths import private_umask
from stockbot.store.runs import RunStore

log = logging.getLogger("stockbot.jobs.executor")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="StockBot executor daemon")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--dask", default=None, help="scheduler address for the dask executor")
    args = ap.parse_args(argv)
    private_umask()  # run folders, logs and executed notebooks are the platform account's alone
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = RunStore()
    executor: Executor = (
        DaskExecutor(store, args.dask, args.concurrency)
        if args.dask
        else LocalExecutor(store, args.concurrency)
    )

    def _stop(signum: int, frame: object) -> None:
        executor.close()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("%s executor %d started (concurrency %d)", executor.name, os.getpid(), args.concurrency)
    try:
        executor.run_forever()
    finally:
        shutdown(executor)


if __name__ == "__main__":
    main()
