"""Settings schema for the node (ARCHITECTURE.md §7).

Every key has a default here and is documented in ``config/node.toml``.
Precedence, highest first: ``CARDIAC_QA__SECTION__KEY`` environment variables
(scalar keys only), the TOML file, the defaults below.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = [
    "AnalyzersSection",
    "AssemblySection",
    "ConfigError",
    "DashboardSection",
    "DeliverySection",
    "Destination",
    "EchoSection",
    "LimitsSection",
    "LoggingSection",
    "MrSection",
    "NodeSection",
    "Providers",
    "ReportsSection",
    "Route",
    "Settings",
    "StorageSection",
    "WorkersSection",
    "DEFAULT_ROUTES",
    "load_settings",
]

_AE_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # PS3.5 AE VR: no backslash, <= 16 chars


class ConfigError(Exception):
    """Configuration is invalid; ``str()`` lists every problem, one per line."""

    code = "config_invalid"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_ae(value: str) -> str:
    if not _AE_RE.match(value) or not value.strip():
        raise ValueError("must be 1-16 printable ASCII characters without backslash")
    return value.strip()


class NodeSection(_Section):
    ae_title: str = "CARDIAC_QA"
    bind_address: str = "127.0.0.1"
    port: int = Field(11112, ge=1, le=65535)
    allowed_calling_aets: tuple[str, ...] = ()
    require_called_aet: bool = True
    max_associations: int = Field(16, ge=1, le=1024)
    acse_timeout: float = Field(30.0, gt=0)
    dimse_timeout: float = Field(60.0, gt=0)
    network_timeout: float = Field(60.0, gt=0)
    accept_all_storage: bool = True
    # Stream each received dataset into the spool while it arrives (hashed on the way, bounded
    # memory); false holds each dataset in memory and writes it once it is complete.
    streaming_receive: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None

    _ae = field_validator("ae_title")(classmethod(lambda cls, v: _check_ae(v)))

    @field_validator("allowed_calling_aets")
    @classmethod
    def _aets(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_ae(a) for a in v)

    @model_validator(mode="after")
    def _tls_pair(self) -> NodeSection:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        if self.tls_ca is not None and self.tls_cert is None:
            raise ValueError("tls_ca (mutual TLS) needs tls_cert and tls_key")
        return self


class StorageSection(_Section):
    data_dir: Path = Path("./var")
    database_url: str | None = None
    retention_days: int = Field(30, ge=0)

    @field_validator("database_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return v

    def effective_database_url(self) -> str:
        """The URL in use: the configured one, else SQLite in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'cardiac_qa.sqlite3').resolve()}"


class AssemblySection(_Section):
    series_stable_seconds: float = Field(30.0, gt=0)
    poll_seconds: float = Field(1.0, gt=0)


class Providers(StrEnum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class WorkersSection(_Section):
    processes: int = Field(1, ge=1, le=64)
    threads_per_process: int = Field(2, ge=1, le=64)
    providers: Providers = Providers.AUTO
    max_pending: int = Field(1000, ge=1)


class LimitsSection(_Section):
    # Rows x Columns x Frames x SamplesPerPixel, from the header, checked at ingest.
    max_pixels_per_instance: int = Field(1_500_000_000, ge=1)


class EchoSection(_Section):
    min_frames: int = Field(8, ge=1)
    strain_min_score: float = Field(3.0, ge=1, le=5)
    strain_min_fraction: float = Field(0.9, ge=0, le=1)
    ef_min_score: float = Field(3.0, ge=1, le=5)
    rescan_below_global: float = Field(2.5, ge=1, le=5)
    rescan_min_failed_segments: int = Field(2, ge=1, le=6)
    frame_batch: int = Field(16, ge=1, le=512)


class MrSection(_Section):
    rescan_below_grade: float = Field(2.0, ge=0, le=4)
    min_slices: int = Field(40, ge=1)
    min_extent_mm: float = Field(60.0, gt=0)
    patches_per_orientation: int = Field(16, ge=1, le=512)


class ReportsSection(_Section):
    uid_root: str | None = None
    not_assessable_sr: bool = True
    sc_max_width: int = Field(640, ge=64, le=4096)

    @field_validator("uid_root")
    @classmethod
    def _root(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"(0|[1-9]\d*)(\.(0|[1-9]\d*))*\.?", v):
            raise ValueError("must be a dotted numeric UID root such as 1.2.826.0.1.3680043.10.1234.")
        if v is not None and len(v.rstrip(".")) > 24:
            raise ValueError("must be at most 24 characters so derived UIDs fit in 64")
        return v


class DeliverySection(_Section):
    max_attempts: int = Field(10, ge=1)
    backoff_seconds: float = Field(30.0, gt=0)
    backoff_max_seconds: float = Field(3600.0, gt=0)
    outbox_dir: Path | None = None


class DashboardSection(_Section):
    enabled: bool = False
    bind_address: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    token: str | None = None

    @model_validator(mode="after")
    def _token_off_loopback(self) -> DashboardSection:
        loopback = self.bind_address in ("127.0.0.1", "::1", "localhost")
        if self.enabled and not loopback and not self.token:
            raise ValueError("token is required when bind_address is not loopback")
        return self


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class LoggingSection(_Section):
    level: LogLevel = LogLevel.INFO
    json_format: bool = Field(False, alias="json")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class AnalyzersSection(_Section):
    # Extra analyzers by import path "package.module:ClassName".
    plugins: tuple[str, ...] = ()

    @field_validator("plugins")
    @classmethod
    def _paths(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for p in v:
            if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", p):
                raise ValueError(f"{p!r} is not of the form 'package.module:ClassName'")
        return v


class Destination(_Section):
    name: str
    ae_title: str
    host: str
    port: int = Field(ge=1, le=65535)
    calling_ae_title: str | None = None

    _ae = field_validator("ae_title")(classmethod(lambda cls, v: _check_ae(v)))


class Analyzer(StrEnum):
    ECHO = "echo-regional"
    MR = "mr-wholeheart"
    NONE = "none"


class Route(_Section):
    analyzer: str
    modality: str | None = None
    sop_class: str | None = None
    series_description: str | None = None
    image_type: str | None = None
    min_frames: int | None = Field(None, ge=1)

    @field_validator("series_description")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return v


DEFAULT_ROUTES: tuple[Route, ...] = (
    Route(modality="US", sop_class="UltrasoundMultiFrameImageStorage", analyzer="echo-regional"),
    Route(modality="US", sop_class="UltrasoundImageStorage", analyzer="echo-regional"),
    Route(modality="MR", sop_class="MRImageStorage", analyzer="mr-wholeheart"),
    Route(modality="MR", sop_class="EnhancedMRImageStorage", analyzer="mr-wholeheart"),
    Route(modality="MR", sop_class="LegacyConvertedEnhancedMRImageStorage", analyzer="mr-wholeheart"),
)


class Settings(BaseSettings):
    """All settings of one node. Frozen; pass it explicitly, never as a global."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix="CARDIAC_QA__",
        env_nested_delimiter="__",
        case_sensitive=False,
        populate_by_name=True,
    )

    node: NodeSection = NodeSection()
    storage: StorageSection = StorageSection()
    assembly: AssemblySection = AssemblySection()
    workers: WorkersSection = WorkersSection()
    limits: LimitsSection = LimitsSection()
    echo: EchoSection = EchoSection()
    mr: MrSection = MrSection()
    reports: ReportsSection = ReportsSection()
    delivery: DeliverySection = DeliverySection()
    dashboard: DashboardSection = DashboardSection()
    logging: LoggingSection = LoggingSection()
    analyzers: AnalyzersSection = AnalyzersSection()
    destinations: tuple[Destination, ...] = ()
    routes: tuple[Route, ...] = DEFAULT_ROUTES

    @model_validator(mode="after")
    def _unique_destinations(self) -> Settings:
        names = [d.name for d in self.destinations]
        if len(names) != len(set(names)):
            raise ValueError("destinations: names must be unique")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def _format(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        ctx = err.get("ctx") or {}
        if "expected" in ctx:
            msg += f" (allowed: {ctx['expected']})"
        lines.append(f"{key}: {msg}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def resolve_config_path(path: str | Path | None) -> Path | None:
    """``--config FILE``, else ``CARDIAC_QA_CONFIG``, else None (the defaults)."""
    if path:
        return Path(path)
    env = os.environ.get("CARDIAC_QA_CONFIG")
    return Path(env) if env else None


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from TOML (see :func:`resolve_config_path`) and the environment.

    Raises
    ------
    ConfigError
        With every invalid key at once, each as ``section.key: problem``.
    """
    toml_path = resolve_config_path(path)
    if toml_path is not None and not toml_path.is_file():
        raise ConfigError(f"config file not found: {toml_path}")

    class _Loaded(Settings):
        model_config = SettingsConfigDict(**{**Settings.model_config, "toml_file": toml_path})

    try:
        loaded = _Loaded(**overrides)
    except ValidationError as exc:
        raise ConfigError(_format(exc)) from None
    except ValueError as exc:  # TOML syntax errors
        raise ConfigError(f"cannot read {toml_path}: {exc}") from None
    return loaded
