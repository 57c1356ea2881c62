"""Enhanced MR Image Storage (PS3.3 A.36.2): one multi-frame object with functional groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import EnhancedMRImageStorage

from models.synthetic.common import derive_uid

from .dicom_common import SeriesInfo, base_dataset, to_pixels
from .reslice import SliceStack

__all__ = ["enhanced_dataset", "write_enhanced"]

_IMAGE_TYPE = ["ORIGINAL", "PRIMARY", "ANGIO", "NONE"]


def _item(**kw: object) -> Dataset:
    ds = Dataset()
    for k, v in kw.items():
        setattr(ds, k, v)
    return ds


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    return _item(CodeValue=value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)


def _shared_groups(stack: SliceStack, info: SeriesInfo) -> Dataset:
    """Functional groups identical for every frame (PS3.3 C.7.6.16 and C.8.13.5)."""
    n = stack.pixels.shape[1]
    g = Dataset()
    g.PixelMeasuresSequence = Sequence([_item(
        PixelSpacing=[round(v, 6) for v in stack.pixel_spacing],
        SliceThickness=round(stack.slice_spacing, 6),
        SpacingBetweenSlices=round(stack.slice_spacing, 6),
    )])
    g.PlaneOrientationSequence = Sequence([_item(ImageOrientationPatient=stack.iop)])
    g.FrameAnatomySequence = Sequence([_item(
        AnatomicRegionSequence=Sequence([_code("80891009", "SCT", "Heart")]), FrameLaterality="U")])
    g.PixelValueTransformationSequence = Sequence([_item(RescaleIntercept=0, RescaleSlope=1, RescaleType="US")])
    g.MRImageFrameTypeSequence = Sequence([_item(
        FrameType=_IMAGE_TYPE, PixelPresentation="MONOCHROME", VolumetricProperties="VOLUME",
        VolumeBasedCalculationTechnique="NONE", ComplexImageComponent="MAGNITUDE", AcquisitionContrast="T2")])
    g.MRTimingAndRelatedParametersSequence = Sequence([_item(
        RepetitionTime=info.repetition_time, FlipAngle=info.flip_angle, EchoTrainLength=1,
        RFEchoTrainLength=1, GradientEchoTrainLength=1, GradientOutputType="DB_DT", GradientOutput=20.0,
        OperatingModeSequence=Sequence([_item(OperatingModeType="STATIC FIELD", OperatingMode="IEC_NORMAL")]),
        SpecificAbsorptionRateSequence=Sequence([_item(SpecificAbsorptionRateDefinition="IEC_WHOLE_BODY",
                                                       SpecificAbsorptionRateValue=0.8)]))])
    g.MRFOVGeometrySequence = Sequence([_item(
        InPlanePhaseEncodingDirection="COLUMN", MRAcquisitionFrequencyEncodingSteps=n,
        MRAcquisitionPhaseEncodingStepsInPlane=n, MRAcquisitionPhaseEncodingStepsOutOfPlane=len(stack.pixels),
        PercentSampling=100.0, PercentPhaseFieldOfView=100.0)])
    g.MREchoSequence = Sequence([_item(EffectiveEchoTime=info.echo_time)])
    g.MRModifierSequence = Sequence([_item(
        InversionRecovery="NO", FlowCompensation="NONE", T2Preparation="YES", SpectrallySelectedExcitation="NONE",
        SpatialPresaturation="NONE", PartialFourier="NO", ParallelAcquisition="NO")])
    g.MRImagingModifierSequence = Sequence([_item(
        MagnetizationTransfer="NONE", BloodSignalNulling="NO", Tagging="NONE",
        TransmitterFrequency=63.87, PixelBandwidth=900.0)])
    g.MRReceiveCoilSequence = Sequence([_item(
        ReceiveCoilName="BODY18", ReceiveCoilManufacturerName="SYNTH", ReceiveCoilType="MULTICOIL",
        QuadratureReceiveCoil="NO",
        MultiCoilDefinitionSequence=Sequence([_item(MultiCoilElementName="A1", MultiCoilElementUsed="YES")]))])
    g.MRTransmitCoilSequence = Sequence([_item(
        TransmitCoilName="BODY", TransmitCoilManufacturerName="SYNTH", TransmitCoilType="BODY")])
    g.MRAveragesSequence = Sequence([_item(NumberOfAverages=1.0)])
    return g


def enhanced_dataset(stack: SliceStack, info: SeriesInfo) -> Dataset:
    """The Enhanced MR Image dataset for a slice stack (frames in stack order)."""
    sop_uid = derive_uid(0, info.series_instance_uid, "enhanced", 1)
    ds = base_dataset(info, EnhancedMRImageStorage, sop_uid)
    p = info.patient
    dt = f"{p.study_date}{p.study_time}"
    ds.ImageType = _IMAGE_TYPE
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.ComplexImageComponent = "MAGNITUDE"
    ds.AcquisitionContrast = "T2"
    ds.InstanceNumber = 1
    ds.AcquisitionNumber = 1
    ds.AcquisitionDateTime = dt
    ds.AcquisitionDuration = 360.0
    ds.ContentQualification = "RESEARCH"
    ds.ResonantNucleus = "1H"
    ds.KSpaceFiltering = "NONE"
    ds.MagneticFieldStrength = info.field_strength
    ds.ApplicableSafetyStandardAgency = "IEC"
    ds.ImageComments = "Synthetic whole-heart MR (cardiac-qa synth mr)"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    ds.AcquisitionContextSequence = Sequence()
    # MR Pulse Sequence module (C.8.13.4): bSSFP, fat-suppressed, Cartesian 3D.
    ds.PulseSequenceName = "SYNTH_TFI3D"
    ds.MRAcquisitionType = "3D"
    ds.EchoPulseSequence = "GRADIENT"
    ds.MultiPlanarExcitation = "NO"
    ds.PhaseContrast = "NO"
    ds.TimeOfFlightContrast = "NO"
    ds.SteadyStatePulseSequence = "TRANSVERSE"
    ds.EchoPlanarPulseSequence = "NO"
    ds.SaturationRecovery = "NO"
    ds.SpectrallySelectedSuppression = "FAT"
    ds.OversamplingPhase = "NONE"
    ds.GeometryOfKSpaceTraversal = "RECTILINEAR"
    ds.RectilinearPhaseEncodeReordering = "LINEAR"
    ds.SegmentedKSpaceTraversal = "PARTIAL"
    ds.CoverageOfKSpace = "FULL"
    ds.NumberOfKSpaceTrajectories = 1
    # Multi-frame Dimension module (C.7.6.17): stack id, position in stack.
    dim_uid = derive_uid(0, info.series_instance_uid, "dimension-organization")
    ds.DimensionOrganizationSequence = Sequence([_item(DimensionOrganizationUID=dim_uid)])
    ds.DimensionOrganizationType = "3D"
    ds.DimensionIndexSequence = Sequence([
        _item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=Tag("StackID"),
              FunctionalGroupPointer=Tag("FrameContentSequence"), DimensionDescriptionLabel="Stack ID"),
        _item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=Tag("InStackPositionNumber"),
              FunctionalGroupPointer=Tag("FrameContentSequence"), DimensionDescriptionLabel="In-Stack Position"),
    ])
    nf = len(stack.pixels)
    ds.NumberOfFrames = nf
    ds.SharedFunctionalGroupsSequence = Sequence([_shared_groups(stack, info)])
    frames = []
    for s in range(nf):
        fg = Dataset()
        fg.FrameContentSequence = Sequence([_item(
            FrameAcquisitionNumber=1, FrameReferenceDateTime=dt, FrameAcquisitionDateTime=dt,
            FrameAcquisitionDuration=360000.0, StackID="1", InStackPositionNumber=s + 1,
            DimensionIndexValues=[1, s + 1])])
        fg.PlanePositionSequence = Sequence([_item(
            ImagePositionPatient=[round(float(v), 6) + 0.0 for v in stack.positions[s]])])
        frames.append(fg)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    pix = to_pixels(stack.pixels)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(pix.shape[1]), int(pix.shape[2])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.ascontiguousarray(pix).tobytes()
    return ds


def write_enhanced(stack: SliceStack, info: SeriesInfo, out_dir: Path) -> list[Path]:
    """Write the stack as one Enhanced MR Image file in ``out_dir``; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "MF0001.dcm"
    enhanced_dataset(stack, info).save_as(path, enforce_file_format=True)
    return [path]
