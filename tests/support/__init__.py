"""Test helpers shared across test folders (no network, no database)."""
