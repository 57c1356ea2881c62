"""Presentation contexts the node accepts as SCP (PS3.8 7.1.1.13, PS3.4 Annex B).

pynetdicom's default storage contexts offer uncompressed transfer syntaxes only, which makes a
node refuse real echo (JPEG baseline, RLE). The SCP side has no 128-context limit (that limit is
on what an SCU may propose), so every storage SOP class is listed with every transfer syntax the
analyzers can decode.
"""

from __future__ import annotations

from pydicom import uid
from pynetdicom import AllStoragePresentationContexts
from pynetdicom.sop_class import (
    EnhancedMRColorImageStorage,
    EnhancedMRImageStorage,
    LegacyConvertedEnhancedMRImageStorage,
    MRImageStorage,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    Verification,
)

__all__ = ["ACCEPTED_TRANSFER_SYNTAXES", "CARDIAC_STORAGE_CLASSES", "storage_sop_classes", "VERIFICATION"]

ACCEPTED_TRANSFER_SYNTAXES: tuple[str, ...] = (
    uid.ExplicitVRLittleEndian,
    uid.ImplicitVRLittleEndian,
    uid.DeflatedExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian,  # retired, still sent by old scanners
    uid.JPEGBaseline8Bit,
    uid.JPEGExtended12Bit,
    uid.JPEGLossless,
    uid.JPEGLosslessSV1,
    uid.JPEGLSLossless,
    uid.JPEGLSNearLossless,
    uid.JPEG2000Lossless,
    uid.JPEG2000,
    uid.RLELossless,
)

# Always accepted: what the analyzers grade (ARCHITECTURE.md §3), plus the retired US classes.
CARDIAC_STORAGE_CLASSES: tuple[str, ...] = (
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    "1.2.840.10008.5.1.4.1.1.6",  # Ultrasound Image Storage (Retired)
    "1.2.840.10008.5.1.4.1.1.3",  # Ultrasound Multi-frame Image Storage (Retired)
    MRImageStorage,
    EnhancedMRImageStorage,
    EnhancedMRColorImageStorage,
    LegacyConvertedEnhancedMRImageStorage,
)

VERIFICATION: str = Verification


def storage_sop_classes(accept_all_storage: bool) -> list[str]:
    """SOP Class UIDs accepted for C-STORE.

    Parameters
    ----------
    accept_all_storage : bool
        ``node.accept_all_storage``: also every other storage SOP class pynetdicom knows
        (stored, routed to no analyzer).
    """
    classes = list(CARDIAC_STORAGE_CLASSES)
    if accept_all_storage:
        for cx in AllStoragePresentationContexts:
            if cx.abstract_syntax not in classes:
                classes.append(str(cx.abstract_syntax))
    return classes
