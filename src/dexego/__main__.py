import sys

from dexego.cli import main

sys.exit(main())
