import sys

from chalicelib.local.cli import main

sys.exit(main())
