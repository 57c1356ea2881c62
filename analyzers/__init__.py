"""Analyzers: echo and MR quality, pure numpy in / QualityResult out."""
