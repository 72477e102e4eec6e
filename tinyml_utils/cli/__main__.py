"""``python -m tinyml_utils.cli`` = ``tinyml``."""

import sys

from tinyml_utils.cli import main

sys.exit(main())
