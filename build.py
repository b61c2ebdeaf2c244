#!/usr/bin/env python3
"""Build the partner directory: `python build.py [build|check|schema|explain|serve|new|diff] ...`."""

import sys

from partnerdir.cli import main

if __name__ == "__main__":
    sys.exit(main())
