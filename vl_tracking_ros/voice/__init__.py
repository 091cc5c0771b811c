"""vl_tracking_ros.voice: offline spoken commands for the tracker (no ROS here).

Audio (microphone, topic, WAV) -> 16 kHz mono -> utterance segmentation (VAD,
wake word, push-to-talk) -> speech-to-text (Whisper tiny.en via
faster-whisper, int8 CPU) -> normalization with the tracker's vocabulary ->
command grammar -> accepted command. The ROS node
(``vl_tracking_ros.ros.voice_command_node``) only moves messages.

Main entry points: :class:`~.pipeline.VoiceCommandPipeline`,
:class:`~.recognizer.WhisperRecognizer`, :class:`~.recognizer.Recognizer`,
:class:`~.segmenter.UtteranceSegmenter`, :class:`~.normalize.TranscriptNormalizer`.
Heavy dependencies (faster-whisper, onnxruntime, sounddevice) are imported
only when the class that needs them is built.
"""
