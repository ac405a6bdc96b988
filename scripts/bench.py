#!/usr/bin/env python
"""Kept for old commands: the same as `zh-rag bench` (app.quality.bench)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.quality.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
