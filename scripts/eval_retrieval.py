#!/usr/bin/env python
"""Kept for old commands: the same as `zh-rag eval` (app.quality.eval_cli)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.quality.eval_cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
