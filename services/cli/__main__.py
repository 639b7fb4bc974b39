"""``python -m services.cli <command>``."""

import sys

from services.cli.commands import main

sys.exit(main())
