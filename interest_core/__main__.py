import sys

from interest_core.cli import main

sys.exit(main())
