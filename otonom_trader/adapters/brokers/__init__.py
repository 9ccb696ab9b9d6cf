"""Brokers behind one interface (``base.Broker``): the in-process paper broker and real
ones (Alpaca through ``alpaca-py``) as optional extras."""
