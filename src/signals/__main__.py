import sys

from signals.cli import main

sys.exit(main())
