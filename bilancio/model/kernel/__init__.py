"""The compiled model: settlement, market, metrics and random draws (see layout.py)."""
