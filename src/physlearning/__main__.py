import sys

from physlearning.cli import main

sys.exit(main())
