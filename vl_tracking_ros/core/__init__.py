"""vl_tracking_ros.core: numpy/scipy-only types and algorithms (no ROS, no
torch, no OpenCV; ``test/unit/test_import_boundaries.py`` enforces it).

Modules (import them directly; nothing is imported here):

* ``types`` / ``tracker`` -- the shared data types and the tracker contract.
* ``imageconv`` -- sensor_msgs/Image fields <-> arrays for every encoding
  (colour, depth per REP 117/118, thermal with calibrations), own error type.
* ``events`` -- event validation, histogram / time-surface / voxel
  accumulation, Prophesee EVT 3.0 encode/decode, bounded rolling window.
* ``sync`` -- RGB-driven approximate-time synchroniser that never blocks on a
  missing stream.
* ``align`` -- homography / resize warp of a modality into the RGB grid.
* ``assembler`` -- sync + align + accumulate: decoded streams -> SensorFrames.
* ``commands`` -- "track ..." / "track all ..." / "stop" parsing.
* ``geometry`` -- box utilities and box -> 3D point from depth.
* ``mailbox`` -- thread-safe keep-the-newest single slot.
"""
