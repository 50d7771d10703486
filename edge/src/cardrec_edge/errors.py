"""The one base of every expected failure in cardrec and cardrec-edge (``cardrec.errors`` re-exports it).

The command-line tools print such an error as one line, without a traceback; anything else is a bug.
"""


class CardrecError(Exception):
    """An expected failure (bad input, bad config, missing hardware or tool): one line, no traceback."""
