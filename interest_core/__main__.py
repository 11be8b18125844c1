import sys

from interest_core.cli.main import main

sys.exit(main())
