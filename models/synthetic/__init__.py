"""Synthetic echo and whole-heart MR studies with ground truth, and DICOM writers."""
