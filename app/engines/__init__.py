"""Search engines behind one protocol (``protocol.py``), opened by ``factory.py``; one module per engine."""
