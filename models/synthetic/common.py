"""Small helpers shared by the synthetic echo and MR generators.

Kept deliberately small and stable (the MR generator imports it too): seeded random
streams, deterministic UIDs and the synthetic patient/study identity.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

__all__ = [
    "SYNTH_UID_NAMESPACE",
    "SyntheticPatient",
    "child_rng",
    "derive_uid",
    "synthetic_patient",
]

# Fixed namespace: UIDs below depend only on (seed, parts), never on time or host.
SYNTH_UID_NAMESPACE = uuid.UUID("6f1d3c2e-8a54-4b7e-9c1a-3e0d5b7a9f21")


def child_rng(seed: int, *keys: int | str) -> np.random.Generator:
    """An independent random stream for ``(seed, *keys)``.

    Strings are hashed (SHA-256) so that the stream does not depend on Python's hash salt.
    """
    entropy: list[int] = [int(seed) & 0xFFFFFFFFFFFFFFFF]
    for key in keys:
        if isinstance(key, str):
            entropy.append(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))
        else:
            entropy.append(int(key) & 0xFFFFFFFFFFFFFFFF)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def derive_uid(seed: int, *parts: object) -> str:
    """A deterministic ``2.25.<int>`` UID (PS3.5 B.2) from the seed and any parts."""
    name = "/".join(str(p) for p in (seed, *parts))
    return f"2.25.{uuid.uuid5(SYNTH_UID_NAMESPACE, name).int}"


@dataclass(frozen=True)
class SyntheticPatient:
    """Patient and study identity of one synthetic study (no real person)."""

    patient_name: str
    patient_id: str
    birth_date: str
    sex: str
    study_date: str
    study_time: str
    accession_number: str
    study_instance_uid: str
    study_id: str

    def apply(self, ds: Dataset) -> None:
        """Write the Patient and General Study modules (PS3.3 C.7.1.1, C.7.2.1) into ``ds``."""
        ds.PatientName = self.patient_name
        ds.PatientID = self.patient_id
        ds.PatientBirthDate = self.birth_date
        ds.PatientSex = self.sex
        ds.StudyInstanceUID = self.study_instance_uid
        ds.StudyID = self.study_id
        ds.StudyDate = self.study_date
        ds.StudyTime = self.study_time
        ds.AccessionNumber = self.accession_number
        ds.ReferringPhysicianName = ""


def synthetic_patient(seed: int, kind: str, index: int) -> SyntheticPatient:
    """Deterministic synthetic identity, e.g. ``SYNTH^ECHO^0001`` for echo study 1.

    Parameters
    ----------
    seed, index
        Generator seed and 0-based study index.
    kind
        ``"ECHO"`` or ``"MR"`` (upper-cased into the name).
    """
    rng = child_rng(seed, "patient", kind, index)
    year = 1940 + int(rng.integers(0, 65))
    month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
    s_month, s_day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
    hh, mm, ss = int(rng.integers(7, 19)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
    number = f"{index + 1:04d}"
    return SyntheticPatient(
        patient_name=f"SYNTH^{kind.upper()}^{number}",
        patient_id=f"SYN{kind.upper()[:2]}{seed % 100000:05d}{number}",
        birth_date=f"{year:04d}{month:02d}{day:02d}",
        sex=("F", "M")[int(rng.integers(0, 2))],
        study_date=f"2025{s_month:02d}{s_day:02d}",
        study_time=f"{hh:02d}{mm:02d}{ss:02d}",
        accession_number=f"SA{seed % 10000:04d}{number}",
        study_instance_uid=derive_uid(seed, kind, index, "study"),
        study_id=number,
    )
