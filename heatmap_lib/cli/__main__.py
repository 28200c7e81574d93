"""`python -m heatmap_lib.cli`: the `heatmap` command."""

import sys

from heatmap_lib.cli.main import main

sys.exit(main())
