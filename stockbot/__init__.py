"""StockBot: a notebook-first deep-reinforcement-learning trading platform on JupyterHub."""

__version__ = "0.1.0"
