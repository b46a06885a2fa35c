"""``python -m ragft_eval`` is the ``ragft-eval`` command."""

import sys

from .cli import main

sys.exit(main())
