"""The DICOM node: network, ingest, routing, jobs, reports, CLI (the composition root)."""
