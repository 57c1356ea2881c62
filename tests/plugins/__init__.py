"""Test analyzers loaded by import path (``analyzers.plugins``), e.g. into a real ``serve``."""
