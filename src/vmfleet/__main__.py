import sys

from vmfleet.cli import main

sys.exit(main())
