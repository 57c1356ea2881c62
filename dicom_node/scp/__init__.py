"""C-ECHO/C-STORE service class provider: receives instances and stores them durably.

Public API: :class:`StoreSCP` (start/stop, ``active_associations``), the status taxonomy
(:class:`StoreStatus`, :func:`status_for`) and the header reader used by the handler.
"""

from .contexts import ACCEPTED_TRANSFER_SYNTAXES, CARDIAC_STORAGE_CLASSES, storage_sop_classes
from .handler import AssociationAudit, StoreHandler, received_bytes
from .header import InstanceHeader, check_pixel_budget, parse_header
from .ingest import IngestOutcome, record_audit, record_instance
from .server import StoreSCP, build_ssl_context, configure_dicom_libraries
from .status import (
    IngestError,
    InvalidHeader,
    OutOfResources,
    Phase,
    PixelBudgetExceeded,
    StoreStatus,
    describe,
    status_for,
)

__all__ = [
    "ACCEPTED_TRANSFER_SYNTAXES",
    "CARDIAC_STORAGE_CLASSES",
    "AssociationAudit",
    "IngestError",
    "IngestOutcome",
    "InstanceHeader",
    "InvalidHeader",
    "OutOfResources",
    "Phase",
    "PixelBudgetExceeded",
    "StoreHandler",
    "StoreSCP",
    "StoreStatus",
    "build_ssl_context",
    "check_pixel_budget",
    "configure_dicom_libraries",
    "describe",
    "parse_header",
    "received_bytes",
    "record_audit",
    "record_instance",
    "status_for",
    "storage_sop_classes",
]
