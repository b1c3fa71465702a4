"""StockBot's JupyterHub pieces: authentication wiring now; the StockBot service comes next."""
