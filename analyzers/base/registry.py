"""Analyzer registry: built-in analyzers by name, plus plugins by import path."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from .protocol import Analyzer, AnalyzerError

__all__ = ["BUILTIN_ANALYZERS", "load_analyzer", "load_registry"]

BUILTIN_ANALYZERS: dict[str, str] = {
    "echo-regional": "analyzers.echo:EchoRegionalAnalyzer",
    "mr-wholeheart": "analyzers.mr:MrWholeHeartAnalyzer",
}


def load_analyzer(import_path: str) -> Analyzer:
    """Instantiate ``package.module:ClassName`` and check it follows the protocol."""
    module_name, _, attr = import_path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise AnalyzerError(f"cannot load analyzer {import_path!r}: {exc}") from None
    analyzer = cls()
    if not isinstance(analyzer, Analyzer):
        raise AnalyzerError(f"{import_path!r} does not implement the Analyzer protocol")
    return analyzer


def load_registry(
    plugins: Iterable[str] = (), builtin: bool = True
) -> tuple[dict[str, Analyzer], dict[str, str]]:
    """Name → analyzer for the built-ins and every plugin import path, and the
    load errors (import path → message) of those that could not be loaded.

    A plugin may replace a built-in of the same name (tests use that). A broken
    analyzer is left out with its error; the others still load.
    """
    registry: dict[str, Analyzer] = {}
    errors: dict[str, str] = {}
    paths = (list(BUILTIN_ANALYZERS.values()) if builtin else []) + list(plugins)
    for path in paths:
        try:
            analyzer = load_analyzer(path)
        except AnalyzerError as exc:
            errors[path] = str(exc)
            continue
        registry[analyzer.name] = analyzer
    return registry, errors
