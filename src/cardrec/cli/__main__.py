"""``python -m cardrec.cli``."""
import sys

from cardrec.cli import main

sys.exit(main())
