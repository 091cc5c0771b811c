"""Readers (and writers) for the standard tracking dataset layouts.

Single object: LaSOT, TNL2K, OTB99-lang (``sot``); RGB-X: LasHeR,
DepthTrack, VisEvent (``rgbx``). Multi-object: MOTChallenge (``mot``),
Refer-KITTI(-V2) (``referkitti``). Malformed files raise
:class:`DatasetFormatError` naming the file and line.
"""
from .common import DatasetFormatError, SOTSequence, load_image, xywh_to_xyxy
from .detect import LAYOUTS, detect_layout, read_sot_sequence
from .mot import MOTSequence, format_mot_rows, read_mot_sequence, write_mot_sequence
from .referkitti import (ReferExpression, ReferSequence, list_refer_kitti, read_expression, read_refer_kitti,
                         write_refer_kitti)
from .rgbx import depth_png_to_m, read_depthtrack_sequence, read_lasher_sequence, read_visevent_sequence
from .sot import (list_lasot, list_tnl2k, read_lasot_sequence, read_otb_lang_sequence, read_tnl2k_sequence,
                  write_lasot_sequence)

__all__ = ["LAYOUTS", "detect_layout", "read_sot_sequence", "DatasetFormatError", "SOTSequence", "load_image",
           "xywh_to_xyxy", "MOTSequence", "format_mot_rows",
           "read_mot_sequence", "write_mot_sequence", "ReferExpression", "ReferSequence", "list_refer_kitti",
           "read_expression", "read_refer_kitti", "write_refer_kitti", "depth_png_to_m", "read_depthtrack_sequence",
           "read_lasher_sequence", "read_visevent_sequence", "list_lasot", "list_tnl2k", "read_lasot_sequence",
           "read_otb_lang_sequence", "read_tnl2k_sequence", "write_lasot_sequence"]
