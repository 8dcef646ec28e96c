"""``python -m portpolicy``."""

import sys

from portpolicy.cli import main

sys.exit(main())
