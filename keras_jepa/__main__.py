"""`python -m keras_jepa ...`: the same command line as the `keras-jepa` script."""

import sys

from keras_jepa.cli import main

if __name__ == "__main__":
    sys.exit(main())
