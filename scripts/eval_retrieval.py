#!/usr/bin/env python
"""Kept for old commands: the same as `zh-rag eval` (app.eval_cli)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.eval_cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
