import sys

from centinela.cli import main

sys.exit(main())
