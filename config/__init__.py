"""Configuration: the settings schema and the documented defaults (node.toml)."""
from .settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
