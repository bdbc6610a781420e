"""``python -m onprem_mlops``: same as the ``onprem-mlops`` command."""

import sys

from onprem_mlops.cli import main

sys.exit(main())
