"""``python -m stockbot.jobs.run_notebook IN OUT --cwd DIR -p name value ...``: Papermill's execution
with its log streamed line by line and the kernel shut down at once when the notebook is done
(a graceful shutdown of a kernel that imported torch and numba took ~3 s of every job)."""

from __future__ import annotations

import argparse
import logging
import sys

import yaml


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--cwd", default=None)
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    params = {name: yaml.safe_load(value) for name, value in args.parameter}
    try:
        pm.execute_notebook(
            args.input,
            args.output,
            parameters=params,
            log_output=True,
            progress_bar=False,
            cwd=args.cwd,
            shutdown_kernel="immediate",
        )
    except PapermillExecutionError as e:
        print(f"job failed in cell {e.cell_index}: {e.ename}: {e.evalue}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
