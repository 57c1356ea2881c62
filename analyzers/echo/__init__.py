"""Echo regional quality (Van De Vyver et al.): decode, sector, U-Net regions, end-to-end CNN
scores, classic metrics, loop aggregation and decisions. Pure numpy in, QualityResult out."""

from .aggregate import LoopSummary, ed_es_frames, summarise
from .analyzer import DOPPLER_FRACTION, EchoRegionalAnalyzer
from .decode import DecodeError, EchoFrames, UsRegion, decode_frames, us_regions
from .metrics import METRIC_NAMES, gcnr, histogram_match, loop_metrics, region_metrics
from .regions import Landmarks, LoopRegions, divide_loop, frame_landmarks, regions_from_landmarks
from .sector import Sector, detect_sector, find_sector, resize_area
from .view import VIEW_CODES, segment_names, view_of

__all__ = [
    "DOPPLER_FRACTION",
    "DecodeError",
    "EchoFrames",
    "EchoRegionalAnalyzer",
    "Landmarks",
    "LoopRegions",
    "LoopSummary",
    "METRIC_NAMES",
    "Sector",
    "UsRegion",
    "VIEW_CODES",
    "decode_frames",
    "detect_sector",
    "divide_loop",
    "ed_es_frames",
    "find_sector",
    "frame_landmarks",
    "gcnr",
    "histogram_match",
    "loop_metrics",
    "region_metrics",
    "regions_from_landmarks",
    "resize_area",
    "segment_names",
    "summarise",
    "us_regions",
    "view_of",
]
