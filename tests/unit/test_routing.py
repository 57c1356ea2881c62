"""Routing rules (ARCHITECTURE.md §7): first match wins, each field's matching semantics."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import EnhancedMRImageStorage, MRImageStorage, UltrasoundMultiFrameImageStorage

from config.settings import DEFAULT_ROUTES, Route
from dicom_node.routing import (
    NO_ANALYZER,
    RoutingError,
    RoutingHeader,
    choose_analyzer,
    resolve_sop_class,
    validate_routes,
)

US_MF = str(UltrasoundMultiFrameImageStorage)


def test_default_routes_send_us_and_mr_to_their_analyzers() -> None:
    assert choose_analyzer(DEFAULT_ROUTES, RoutingHeader("US", US_MF, None, (), 40)) == "echo-regional"
    assert choose_analyzer(DEFAULT_ROUTES, RoutingHeader("MR", str(MRImageStorage))) == "mr-wholeheart"
    assert choose_analyzer(DEFAULT_ROUTES, RoutingHeader("MR", str(EnhancedMRImageStorage))) == "mr-wholeheart"
    ct = RoutingHeader("CT", "1.2.840.10008.5.1.4.1.1.2")
    assert choose_analyzer(DEFAULT_ROUTES, ct) == NO_ANALYZER


def test_first_matching_route_wins() -> None:
    routes = (
        Route(modality="US", series_description="doppler", analyzer="none"),
        Route(modality="US", analyzer="echo-regional"),
    )
    assert choose_analyzer(routes, RoutingHeader("US", US_MF, "Colour DOPPLER apical")) == "none"
    assert choose_analyzer(routes, RoutingHeader("US", US_MF, "A4C")) == "echo-regional"


def test_sop_class_as_keyword_or_uid() -> None:
    by_uid = (Route(sop_class=US_MF, analyzer="a"),)
    by_kw = (Route(sop_class="UltrasoundMultiFrameImageStorage", analyzer="a"),)
    header = RoutingHeader("US", US_MF)
    assert choose_analyzer(by_uid, header) == choose_analyzer(by_kw, header) == "a"
    assert choose_analyzer(by_kw, RoutingHeader("US", "1.2.840.10008.5.1.4.1.1.6.1")) == NO_ANALYZER
    assert resolve_sop_class("MRImageStorage") == str(MRImageStorage)
    with pytest.raises(RoutingError):
        resolve_sop_class("NoSuchStorage")


def test_series_description_is_a_case_insensitive_search() -> None:
    routes = (Route(series_description=r"whole.?heart", analyzer="mr"),)
    assert choose_analyzer(routes, RoutingHeader("MR", SeriesDescription="3D WHOLE-HEART nav")) == "mr"
    assert choose_analyzer(routes, RoutingHeader("MR", SeriesDescription="cine sax")) == NO_ANALYZER
    assert choose_analyzer(routes, RoutingHeader("MR")) == NO_ANALYZER  # absent never matches


def test_image_type_contains_every_value_of_the_route() -> None:
    routes = (Route(image_type="LOCALIZER", analyzer="none"), Route(modality="MR", analyzer="mr"))
    assert choose_analyzer(routes, RoutingHeader("MR", ImageType=("ORIGINAL", "PRIMARY", "LOCALIZER"))) == "none"
    assert choose_analyzer(routes, RoutingHeader("MR", ImageType=("ORIGINAL", "PRIMARY"))) == "mr"
    both = (Route(image_type="original\\primary", analyzer="x"),)
    assert choose_analyzer(both, {"ImageType": "ORIGINAL\\PRIMARY\\M"}) == "x"
    assert choose_analyzer(both, {"ImageType": "DERIVED\\PRIMARY"}) == NO_ANALYZER


def test_min_frames_counts_a_missing_number_of_frames_as_one() -> None:
    routes = (Route(modality="US", min_frames=8, analyzer="echo"),)
    assert choose_analyzer(routes, RoutingHeader("US", NumberOfFrames=8)) == "echo"
    assert choose_analyzer(routes, RoutingHeader("US", NumberOfFrames=7)) == NO_ANALYZER
    assert choose_analyzer(routes, RoutingHeader("US")) == NO_ANALYZER
    assert choose_analyzer((Route(min_frames=1, analyzer="a"),), RoutingHeader("US")) == "a"


def test_a_pydicom_dataset_is_a_header() -> None:
    ds = Dataset()
    ds.Modality = "US"
    ds.SOPClassUID = US_MF
    ds.NumberOfFrames = "12"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    assert choose_analyzer(DEFAULT_ROUTES, ds) == "echo-regional"


def test_every_given_field_must_match() -> None:
    route = Route(modality="US", sop_class="UltrasoundMultiFrameImageStorage", min_frames=2, analyzer="a")
    assert choose_analyzer((route,), RoutingHeader("US", US_MF, NumberOfFrames=2)) == "a"
    assert choose_analyzer((route,), RoutingHeader("MR", US_MF, NumberOfFrames=2)) == NO_ANALYZER


def test_validate_routes_reports_unknown_keywords_and_analyzers() -> None:
    routes = (Route(sop_class="Bogus", analyzer="echo-regional"), Route(modality="US", analyzer="nope"))
    problems = validate_routes(routes, {"echo-regional"})
    assert len(problems) == 2
    assert "Bogus" in problems[0] and "'nope' is not registered" in problems[1]
    assert validate_routes(DEFAULT_ROUTES, {"echo-regional", "mr-wholeheart"}) == []
