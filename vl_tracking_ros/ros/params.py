"""Parameter declaration for the package's nodes: descriptors, one read, validation.

Every node parameter is described once, as data (:class:`ParamSpec`), in the
tables :data:`TRACKER_PARAMS`, :data:`REPLAY_PARAMS` and :data:`CONSOLE_PARAMS`.
:func:`declare_and_read` declares them on a node with a
``ParameterDescriptor`` (description, numeric range, read-only), reads them
once, and :func:`tracker_config` / :func:`replay_config` / :func:`console_config`
validate the values into a frozen dataclass. A bad value raises
:class:`ParameterError` naming the parameter, the value and what is allowed.

The YAML files in ``config/`` are keyed by node name under
``ros__parameters``; ``test/ros/test_launch_files.py`` checks that their keys
are exactly parameters declared here.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterValueException, ParameterException
from rclpy.parameter import Parameter

from ..core.types import X_MODALITIES


class ParameterError(ValueError):
    """A node parameter has a value the node cannot run with."""


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter.

    name: dotted ROS parameter name (``sync.slop_ms``).
    default: default value; its Python type fixes the ROS parameter type
        (lists must be non-empty or use ``list_type``).
    description: shown by ``ros2 param describe``; says the unit and what
        changing the value trades.
    min_value / max_value: inclusive numeric range (None = unbounded).
    choices: allowed string values (None = any).
    read_only: read once at start-up; changing it later is refused.
    list_type: element type of an empty-list default ("double" / "string").
    """

    name: str
    default: Any
    description: str
    min_value: Optional[float] = None
    max_value: Optional[float] = None
    choices: Optional[Tuple[str, ...]] = None
    read_only: bool = True
    list_type: str = ""

    def descriptor(self) -> ParameterDescriptor:
        from rcl_interfaces.msg import ParameterType

        d = ParameterDescriptor(name=self.name, description=self.description, read_only=self.read_only)
        if self.choices:
            d.additional_constraints = "one of: " + ", ".join(self.choices)
        if isinstance(self.default, bool):
            d.type = ParameterType.PARAMETER_BOOL
        elif isinstance(self.default, int) and (self.min_value is not None or self.max_value is not None):
            d.type = ParameterType.PARAMETER_INTEGER
            d.integer_range = [IntegerRange(from_value=int(self.min_value if self.min_value is not None else -2**62),
                                            to_value=int(self.max_value if self.max_value is not None else 2**62),
                                            step=0)]
        elif isinstance(self.default, float) and (self.min_value is not None or self.max_value is not None):
            d.type = ParameterType.PARAMETER_DOUBLE
            d.floating_point_range = [FloatingPointRange(
                from_value=float(self.min_value if self.min_value is not None else -1e300),
                to_value=float(self.max_value if self.max_value is not None else 1e300), step=0.0)]
        elif isinstance(self.default, int):
            d.type = ParameterType.PARAMETER_INTEGER
        elif isinstance(self.default, float):
            d.type = ParameterType.PARAMETER_DOUBLE
        elif isinstance(self.default, str):
            d.type = ParameterType.PARAMETER_STRING
        elif isinstance(self.default, (list, tuple)):
            kind = self.list_type or _list_kind(self.default)
            d.type = {"double": ParameterType.PARAMETER_DOUBLE_ARRAY,
                      "string": ParameterType.PARAMETER_STRING_ARRAY,
                      "integer": ParameterType.PARAMETER_INTEGER_ARRAY,
                      "bool": ParameterType.PARAMETER_BOOL_ARRAY}[kind]
        return d


def _list_kind(values: Sequence[Any]) -> str:
    if not values:
        raise ValueError("empty list default needs list_type")
    first = values[0]
    if isinstance(first, bool):
        return "bool"
    if isinstance(first, int):
        return "integer"
    if isinstance(first, float):
        return "double"
    return "string"


_RELIABILITY = ("best_effort", "reliable")
_HOMOGRAPHY_DOC = ("3x3 homography, row-major (9 numbers), mapping this modality's pixels onto the RGB "
                   "image plane; empty = identity (the image is only resized to the RGB size)")

#: tracker_node parameters (see docs/ros.md for the full table).
TRACKER_PARAMS: Tuple[ParamSpec, ...] = (
    ParamSpec("modalities", list(X_MODALITIES),
              "optional streams to subscribe besides RGB (any of depth, thermal, event); fewer streams = "
              "less bandwidth and CPU, but the model loses those cues", list_type="string"),
    ParamSpec("sync.slop_ms", 50.0,
              "max |stamp difference| in ms for pairing depth/thermal/event data with an RGB frame; larger "
              "pairs more data across jittery drivers but may pair motion-misaligned images",
              min_value=0.0, max_value=2000.0),
    ParamSpec("sync.silence_timeout_s", 1.0,
              "a stream silent this long is reported missing and frames go on without it; shorter = less "
              "waiting for a dead stream, longer = tolerates slow drivers", min_value=0.01, max_value=60.0),
    ParamSpec("sync.max_wait_ms", 100.0,
              "how long an RGB frame may wait for its depth/thermal/event partners before it is processed "
              "without them; longer = more complete frames, more latency", min_value=0.0, max_value=2000.0),
    ParamSpec("qos.sensor_reliability", "best_effort",
              "reliability of the sensor subscriptions (sensor-data QoS by default); reliable only if the "
              "drivers publish reliably and you accept retransmission latency", choices=_RELIABILITY),
    ParamSpec("qos.sensor_depth", 5, "history depth of sensor subscriptions; deeper = fewer drops on bursts, "
              "more memory (the node always processes the newest frame)", min_value=1, max_value=100),
    ParamSpec("qos.output_reliability", "reliable", "reliability of tracks/markers/pose/debug publishers",
              choices=_RELIABILITY),
    ParamSpec("qos.output_depth", 10, "history depth of output publishers", min_value=1, max_value=1000),
    ParamSpec("model.preset", "default",
              "tracker preset (trackers/registry.py): default = router (track -> model.single_preset, "
              "track all -> model.multi_preset), heuristic = numpy-only fallback, ..."),
    ParamSpec("model.single_preset", "mvlm-small", "preset answering 'track <expr>' when model.preset=default"),
    ParamSpec("model.multi_preset", "rmot-small", "preset answering 'track all <expr>' when model.preset=default"),
    ParamSpec("model.fallback_preset", "heuristic",
              "preset used (and logged) when the configured model cannot be built (e.g. missing weights)"),
    ParamSpec("model.backend", "torch", "inference backend: torch, onnxruntime or tensorrt",
              choices=("torch", "onnxruntime", "tensorrt")),
    ParamSpec("model.device", "cpu", "inference device, e.g. cpu or cuda:0"),
    ParamSpec("model.weights_dir", "", "directory with model weights; empty = the package's weights/"),
    ParamSpec("model.warm_up", False,
              "build the model(s) at start-up instead of on the first command (slower start, no pause on "
              "the first command)"),
    ParamSpec("thresholds.min_confidence", 0.0,
              "tracks below this confidence are not published; higher = fewer false tracks, more gaps",
              min_value=0.0, max_value=1.0),
    ParamSpec("thresholds.pose_min_confidence", 0.3,
              "target_pose is published only when the primary target's confidence reaches this; higher = "
              "a follow-me controller reacts to fewer wrong boxes but loses the target sooner",
              min_value=0.0, max_value=1.0),
    ParamSpec("thermal.calibration", "auto",
              "raw thermal counts (mono8 / mono16) -> kelvin: auto = per-encoding default (mono16: Optris "
              "(raw-1000)/10 degC, mono8: 0..255 -> 0..100 degC), a named preset of core.imageconv, or "
              "linear = raw * thermal.gain + thermal.offset in thermal.unit",
              choices=("auto", "optris", "centikelvin", "flir_tlinear_high", "flir_tlinear_low", "mono8_0_100c",
                       "kelvin", "linear")),
    ParamSpec("thermal.gain", 0.1, "linear thermal calibration: degrees per raw count (resolution vs range)"),
    ParamSpec("thermal.offset", -100.0, "linear thermal calibration: temperature at raw count 0, in thermal.unit"),
    ParamSpec("thermal.unit", "C", "unit of the linear calibration's result: C or K", choices=("C", "K")),
    ParamSpec("thermal.float_unit", "K", "unit of 32FC1 thermal images: K (kelvin) or C (celsius)",
              choices=("K", "C")),
    ParamSpec("events.window_ms", 33.0,
              "time window of events accumulated into one event frame; longer = more events per frame "
              "(works in low motion) but motion blur", min_value=0.1, max_value=1000.0),
    ParamSpec("events.representation", "histogram",
              "event frame representation given to the model", choices=("histogram", "time_surface", "voxel")),
    ParamSpec("events.bins", 5, "time bins of the voxel representation; more = finer timing, more memory",
              min_value=1, max_value=32),
    ParamSpec("align.depth_homography", [], _HOMOGRAPHY_DOC, list_type="double"),
    ParamSpec("align.thermal_homography", [], _HOMOGRAPHY_DOC, list_type="double"),
    ParamSpec("align.event_homography", [], _HOMOGRAPHY_DOC, list_type="double"),
    ParamSpec("debug_image.enabled", True,
              "publish the annotated debug_image (costs a few ms per frame and bandwidth)"),
    ParamSpec("command.max_chars", 512, "longest command accepted (characters); longer commands are rejected",
              min_value=1, max_value=100000),
    ParamSpec("output.frame_id", "", "frame_id of outputs; empty = the RGB image's frame_id"),
    ParamSpec("diagnostics.period_s", 1.0, "period of /diagnostics messages, seconds",
              min_value=0.05, max_value=60.0),
    ParamSpec("warn_throttle_s", 5.0, "minimum seconds between repeats of one bad-input warning",
              min_value=0.0, max_value=3600.0),
)

#: replay_node parameters.
REPLAY_PARAMS: Tuple[ParamSpec, ...] = (
    ParamSpec("source", "suite", "what to replay: suite (generated on the fly) or bag (an MCAP bag)",
              choices=("suite", "bag")),
    ParamSpec("suite", "switch", "synthetic suite name (vl_tracking_ros.data.suites: sot-day, sot-night, switch, "
              "small-fast, occlusion, rmot) when source=suite"),
    ParamSpec("seed", -1, "suite seed (same seed = same clips); -1 = the suite's fixed default seed",
              min_value=-1, max_value=10**8 - 1),
    ParamSpec("clip_index", 0, "which clip of the suite to replay", min_value=0, max_value=100000),
    ParamSpec("bag_path", "", "MCAP bag written by `vl-tracking generate --bag` when source=bag"),
    ParamSpec("rate_hz", 0.0, "publish rate; 0 = the clip's own frame rate", min_value=0.0, max_value=1000.0),
    ParamSpec("loop", False, "start over at the end of the clip"),
    ParamSpec("max_frames", 0, "stop after this many frames (0 = the whole clip, or forever with loop)",
              min_value=0, max_value=10**9),
    ParamSpec("start_delay_s", 0.5, "wait before the first frame (lets subscribers match)",
              min_value=0.0, max_value=60.0),
    ParamSpec("modalities", list(X_MODALITIES), "streams to publish besides RGB", list_type="string"),
    ParamSpec("encodings.rgb", "rgb8", "RGB image encoding", choices=("rgb8", "bgr8", "rgba8", "bgra8", "mono8")),
    ParamSpec("encodings.depth", "16UC1", "depth encoding: 16UC1 (mm) or 32FC1 (m)", choices=("16UC1", "32FC1")),
    ParamSpec("encodings.thermal", "mono16",
              "thermal encoding: mono16 (Optris raw counts), 32FC1 (kelvin) or mono8", choices=("mono16", "32FC1", "mono8")),
    ParamSpec("events.format", "array", "events as the package's EventArray, or an event frame Image",
              choices=("array", "image")),
    ParamSpec("publish_commands", True, "publish the clip's scripted commands on `command` at their frames"),
    ParamSpec("frame_id", "camera_color_optical_frame", "frame_id of the published images"),
    ParamSpec("qos.sensor_reliability", "best_effort",
              "reliability of the sensor publishers: best_effort (sensor-data QoS, like camera drivers) or "
              "reliable (no loss, e.g. for tests; matches best-effort subscribers too)", choices=_RELIABILITY),
)

#: command_console_node parameters.
CONSOLE_PARAMS: Tuple[ParamSpec, ...] = (
    ParamSpec("prompt", "command> ", "prompt shown on a terminal"),
    ParamSpec("match_timeout_s", 5.0,
              "piped input: wait this long for a subscriber to match before publishing (then publish anyway)",
              min_value=0.0, max_value=600.0),
    ParamSpec("linger_s", 0.5, "after EOF, keep the publisher alive this long so reliable delivery completes",
              min_value=0.0, max_value=60.0),
)


def declare_and_read(node: Any, specs: Sequence[ParamSpec]) -> Dict[str, Any]:
    """Declare ``specs`` on ``node`` (overrides come from launch / YAML /
    ``parameter_overrides``) and return name -> value. Raises ParameterError
    for an override of the wrong type or outside its range."""
    values: Dict[str, Any] = {}
    for spec in specs:
        default: Any = list(spec.default) if isinstance(spec.default, (list, tuple)) else spec.default
        if isinstance(default, list) and not default:
            # rclpy infers BYTE_ARRAY from []: declare the type instead (unset until overridden)
            default = {"double": Parameter.Type.DOUBLE_ARRAY, "string": Parameter.Type.STRING_ARRAY,
                       "integer": Parameter.Type.INTEGER_ARRAY, "bool": Parameter.Type.BOOL_ARRAY}[spec.list_type]
        try:
            param = node.declare_parameter(spec.name, default, spec.descriptor())
        except (InvalidParameterValueException, ParameterException, TypeError) as exc:
            raise ParameterError(f"parameter {spec.name!r}: {exc}") from exc
        value = param.value
        if value is None and isinstance(spec.default, (list, tuple)):
            value = list(spec.default)
        if isinstance(value, (list, tuple)) or type(value).__name__ == "array":
            value = list(value)
        if spec.choices and value not in spec.choices:
            raise ParameterError(f"parameter {spec.name!r} = {value!r}: must be one of {', '.join(spec.choices)}")
        if spec.min_value is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            if value < spec.min_value or (spec.max_value is not None and value > spec.max_value):
                raise ParameterError(f"parameter {spec.name!r} = {value!r}: must be in "
                                     f"[{spec.min_value}, {spec.max_value}]")
        values[spec.name] = value
    return values


def _homography(name: str, values: Sequence[float]) -> Optional[Tuple[float, ...]]:
    if not values:
        return None
    if len(values) != 9:
        raise ParameterError(f"parameter {name!r}: a homography needs 9 numbers (row-major 3x3), got {len(values)}")
    return tuple(float(v) for v in values)


def _modalities(name: str, values: Sequence[str]) -> Tuple[str, ...]:
    bad = [v for v in values if v not in X_MODALITIES]
    if bad:
        raise ParameterError(f"parameter {name!r}: unknown modalities {bad}; allowed: {', '.join(X_MODALITIES)} "
                             "(rgb is always on)")
    return tuple(m for m in X_MODALITIES if m in values)


@dataclass(frozen=True)
class TrackerNodeConfig:
    """Validated tracker_node configuration (read once at start-up).
    Field names mirror the parameters with dots replaced by underscores."""

    modalities: Tuple[str, ...] = X_MODALITIES
    sync_slop_ms: float = 50.0
    sync_silence_timeout_s: float = 1.0
    sync_max_wait_ms: float = 100.0
    qos_sensor_reliability: str = "best_effort"
    qos_sensor_depth: int = 5
    qos_output_reliability: str = "reliable"
    qos_output_depth: int = 10
    model_preset: str = "default"
    model_single_preset: str = "mvlm-small"
    model_multi_preset: str = "rmot-small"
    model_fallback_preset: str = "heuristic"
    model_backend: str = "torch"
    model_device: str = "cpu"
    model_weights_dir: str = ""
    model_warm_up: bool = False
    thresholds_min_confidence: float = 0.0
    thresholds_pose_min_confidence: float = 0.3
    thermal_calibration: str = "auto"
    thermal_gain: float = 0.1
    thermal_offset: float = -100.0
    thermal_unit: str = "C"
    thermal_float_unit: str = "K"
    events_window_ms: float = 33.0
    events_representation: str = "histogram"
    events_bins: int = 5
    align_depth_homography: Optional[Tuple[float, ...]] = None
    align_thermal_homography: Optional[Tuple[float, ...]] = None
    align_event_homography: Optional[Tuple[float, ...]] = None
    debug_image_enabled: bool = True
    command_max_chars: int = 512
    output_frame_id: str = ""
    diagnostics_period_s: float = 1.0
    warn_throttle_s: float = 5.0


def _fields(values: Dict[str, Any]) -> Dict[str, Any]:
    return {k.replace(".", "_"): v for k, v in values.items()}


def tracker_config(values: Dict[str, Any]) -> TrackerNodeConfig:
    """Validate the values read by :func:`declare_and_read` (TRACKER_PARAMS)."""
    f = _fields(values)
    f["modalities"] = _modalities("modalities", f["modalities"])
    for key in ("align_depth_homography", "align_thermal_homography", "align_event_homography"):
        f[key] = _homography(key.replace("align_", "align."), f[key])
    for key in ("model_preset", "model_fallback_preset", "model_single_preset", "model_multi_preset"):
        if not str(f[key]).strip():
            raise ParameterError(f"parameter {key.replace('model_', 'model.')!r} must not be empty")
    if f["thermal_calibration"] == "linear" and f["thermal_gain"] == 0.0:
        raise ParameterError("parameter 'thermal.gain' must be non-zero for a linear thermal calibration")
    return TrackerNodeConfig(**f)


@dataclass(frozen=True)
class ReplayNodeConfig:
    """Validated replay_node configuration."""

    source: str = "suite"
    suite: str = "switch"
    seed: int = -1
    clip_index: int = 0
    bag_path: str = ""
    rate_hz: float = 0.0
    loop: bool = False
    max_frames: int = 0
    start_delay_s: float = 0.5
    modalities: Tuple[str, ...] = X_MODALITIES
    encodings_rgb: str = "rgb8"
    encodings_depth: str = "16UC1"
    encodings_thermal: str = "mono16"
    events_format: str = "array"
    publish_commands: bool = True
    frame_id: str = "camera_color_optical_frame"
    qos_sensor_reliability: str = "best_effort"


def replay_config(values: Dict[str, Any]) -> ReplayNodeConfig:
    f = _fields(values)
    f["modalities"] = _modalities("modalities", f["modalities"])
    if f["source"] == "bag" and not f["bag_path"]:
        raise ParameterError("parameter 'bag_path' must name an MCAP bag when source=bag")
    return ReplayNodeConfig(**f)


@dataclass(frozen=True)
class ConsoleNodeConfig:
    prompt: str = "command> "
    match_timeout_s: float = 5.0
    linger_s: float = 0.5


def console_config(values: Dict[str, Any]) -> ConsoleNodeConfig:
    return ConsoleNodeConfig(**_fields(values))


def spec_names(specs: Sequence[ParamSpec]) -> List[str]:
    """Names of the parameters in ``specs`` (for tests and docs)."""
    return [s.name for s in specs]


#: node name -> its parameter table (used by the launch/YAML consistency test)
NODE_PARAMS: Mapping[str, Tuple[ParamSpec, ...]] = MappingProxyType({
    "tracker_node": TRACKER_PARAMS,
    "replay_node": REPLAY_PARAMS,
    "command_console_node": CONSOLE_PARAMS,
})
