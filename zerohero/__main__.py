import sys

from zerohero.cli import main

sys.exit(main())
