"""One module per data source, each a :class:`~stockbot.data.base.BaseProvider`."""
