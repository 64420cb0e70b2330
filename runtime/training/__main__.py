"""``python -m mlc.runtime.training``: see ``main``."""

import sys

from mlc.runtime.training.main import main

sys.exit(main())
