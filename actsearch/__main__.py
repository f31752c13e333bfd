import sys

from actsearch.cli import main

sys.exit(main())
