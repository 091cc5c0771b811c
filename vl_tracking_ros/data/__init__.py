"""Synthetic multi-modal world, language, bags and dataset readers.

* ``scene`` -- :class:`~.scene.ClipConfig` (every difficulty knob), objects,
  attributes, analytic trajectories, occluders.
* ``render`` -- vectorised numpy renderer (albedo, ids, depth, temperature)
  and the RGB / depth / thermal sensor models; ``event_sim`` -- the event
  camera simulator.
* ``language`` -- referring expressions with referent sets computed from the
  scene, ``VOCABULARY``.
* ``world`` -- ``render_clip(config, seed) -> Clip`` with ground truth,
  expressions and the command schedule.
* ``suites`` -- the fixed-seed evaluation suites (``get_suite``) and the
  training stream (``training_clips``), with disjoint seeds.
* ``bag`` -- clips <-> MCAP rosbag2; ``clip_io`` -- clips <-> LaSOT / MOT
  style folders (``vl-tracking generate``, ``cli_generate``).
* ``datasets`` -- readers for LaSOT, TNL2K, OTB99-lang, LasHeR, DepthTrack,
  VisEvent, MOTChallenge and Refer-KITTI.

Nothing here imports torch or rclpy. See docs/world.md.
"""
