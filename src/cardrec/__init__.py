"""cardrec: train trading-card embedding models and ship them to the edge."""
__version__ = "0.1.0"
