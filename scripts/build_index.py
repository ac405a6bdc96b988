#!/usr/bin/env python
"""Build (or rebuild) the hybrid index of one corpus file; see --help."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexing.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
