"""Audio stream -> utterances -> transcripts -> accepted commands.

:class:`VoiceCommandPipeline` glues the parts together without any ROS:
``feed(audio, sample_rate)`` takes chunks from any source (microphone, topic,
WAV) and returns one :class:`VoiceResult` per finished utterance. Every
result carries the transcript and confidence; ``result.command`` is set only
when the utterance passed the wake-word / confidence checks and parsed as a
tracker command. The ROS node publishes exactly these two things.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .audio import StreamResampler, check_rate, to_mono_float32
from .grammar import NotACommand, parse
from .normalize import Normalized, TranscriptNormalizer
from .recognizer import Recognizer, Transcript, echoes_prompt
from .segmenter import Utterance, UtteranceSegmenter
from .snap import CommandGrammar
from .vad import build_vad
from .vocabulary import FUNCTION_WORDS

#: VoiceResult.reason values.
ACCEPTED = "accepted"
NO_SPEECH = "no_speech"
LOW_CONFIDENCE = "low_confidence"
NO_WAKE_WORD = "no_wake_word"
WAKE_WORD_ONLY = "wake_word_only"
NOT_A_COMMAND = "not_a_command"
PROMPT_ECHO = "prompt_echo"


@dataclass
class VoiceResult:
    """The outcome of one utterance.

    transcript: what the recognizer heard (raw text + confidence).
    normalized: the normalized text that was parsed.
    command: the canonical command published on ``command``, or None.
    reason: one of ``accepted``, ``no_speech``, ``low_confidence``,
        ``no_wake_word``, ``wake_word_only``, ``not_a_command``,
        ``prompt_echo`` (the transcript repeated a prompt sentence that the
        unprompted decoding of the same audio does not support).
    detail: human-readable detail (e.g. the parser's message).
    speech_end_s / closed_at_s: stream times (seconds of audio) of the end of
        speech and of the segmenter's decision.
    processing_s: wall time of recognition + decision for this result.
    asr_started_at_s: stream time recognition started: ``closed_at_s``, or
        earlier when a tentative utterance was recognized while the
        segmenter still waited for the end (then the result is reused).
    latency_s: end of speech -> result, in real time for a live stream:
        ``max(closed_at_s, asr_started_at_s + processing_s) - speech_end_s``.
    """

    transcript: Transcript
    normalized: Normalized
    command: Optional[str]
    reason: str
    detail: str = ""
    start_s: float = 0.0
    speech_end_s: float = 0.0
    closed_at_s: float = 0.0
    processing_s: float = 0.0
    segment_reason: str = ""
    asr_started_at_s: Optional[float] = None
    extra: Dict[str, object] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.command is not None

    @property
    def ready_at_s(self) -> float:
        """Stream time at which this result exists (live stream)."""
        start = self.closed_at_s if self.asr_started_at_s is None else self.asr_started_at_s
        return max(self.closed_at_s, start + self.processing_s)

    def latency_since(self, speech_end_s: float) -> float:
        """Seconds from ``speech_end_s`` (stream time) to this result."""
        return max(0.0, self.ready_at_s - speech_end_s)

    @property
    def latency_s(self) -> float:
        return self.latency_since(self.speech_end_s)

    def to_dict(self) -> Dict[str, object]:
        """JSON-ready dict (the ``voice/transcript`` message payload)."""
        return {
            "text": self.transcript.text,
            "normalized": self.normalized.text,
            "confidence": round(self.transcript.confidence, 4),
            "no_speech_prob": round(self.transcript.no_speech_prob, 4),
            "accepted": self.accepted,
            "command": self.command,
            "reason": self.reason,
            "detail": self.detail,
            "corrections": [list(c) for c in self.normalized.corrections],
            "wake_word_heard": self.normalized.wake_word_heard,
            "start_s": round(self.start_s, 3),
            "speech_end_s": round(self.speech_end_s, 3),
            "latency_s": round(self.latency_s, 3),
            "asr_s": round(self.transcript.inference_s, 3),
            "unprompted_text": self.transcript.unprompted_text,
            "segment": self.segment_reason,
            "choice": self.transcript.choice,
            "early_asr": self.asr_started_at_s is not None and self.asr_started_at_s < self.closed_at_s,
            **self.extra,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


class VoiceCommandPipeline:
    """Streaming voice-command recognizer.

    recognizer: speech-to-text (:class:`~vl_tracking_ros.voice.recognizer.Recognizer`).
    segmenter: utterance segmentation (VAD or push-to-talk).
    normalizer: text normalization / vocabulary correction; its ``wake_word``
        is the one detected.
    require_wake_word: only utterances that start with the wake word (or that
        follow a bare wake word within ``wake_window_s``) can be commands.
        Safer next to people talking, one more word to say.
    min_confidence: transcripts below this confidence are never commands.
        Higher means fewer false commands from noise and more misses.
    use_prompt: give the recognizer the vocabulary prompt (bias to command
        words; costs ~60 prompt tokens of decoder time).
    use_core_parser: decide with ``core.commands.parse_command`` when present.
    grammar: :class:`~vl_tracking_ros.voice.snap.CommandGrammar` the n-best
        transcripts are snapped to (None: built from the normalizer's
        vocabulary; pass ``snap_distance=0`` to turn snapping off).
    snap_distance: a transcript is only snapped to a grammatical command
        within this :attr:`~vl_tracking_ros.voice.snap.Snap.distance` (cost
        per letter); farther transcripts are judged as heard. Higher
        corrects more mis-hearings and turns more unrelated "track ..."
        speech into some command.
    max_candidates: at most this many candidate commands are scored with
        the recognizer (each costs a forced decoding, ~30-40 ms here): the
        closest grammatical ones, plus the recognizer's own best transcript
        when it parses but is off the grammar.
    off_grammar_penalty: log-probability handicap of a heard command that
        parses but is not in the grammar ("track the umbrella") against the
        grammatical candidates; it still wins when the audio clearly says it.
    echo_agreement: when the prompted transcript repeats a prompt sentence,
        the unprompted transcript (normalized the same way) must share at
        least this word-sequence similarity with it. Higher rejects more
        prompt echoes and more genuine commands that happen to equal a
        prompt example.
    """

    def __init__(self, recognizer: Recognizer, segmenter: UtteranceSegmenter,
                 normalizer: Optional[TranscriptNormalizer] = None, require_wake_word: bool = False,
                 wake_window_s: float = 5.0, min_confidence: float = 0.25, use_prompt: bool = True,
                 use_core_parser: bool = True, echo_agreement: float = 0.5,
                 grammar: Optional[CommandGrammar] = None, snap_distance: float = 0.3,
                 max_candidates: int = 5, off_grammar_penalty: float = 8.0) -> None:
        self.recognizer = recognizer
        self.segmenter = segmenter
        self.normalizer = normalizer or TranscriptNormalizer()
        if require_wake_word and not self.normalizer.wake_word:
            raise ValueError("require_wake_word needs a normalizer with a wake_word")
        self.require_wake_word = bool(require_wake_word)
        self.wake_window_s = float(wake_window_s)
        self.min_confidence = float(min_confidence)
        self.prompt = self.normalizer.vocabulary.prompt() if use_prompt else None
        self.use_core_parser = bool(use_core_parser)
        self.echo_agreement = float(echo_agreement)
        self.snap_distance = float(snap_distance)
        self.grammar = grammar if grammar is not None or self.snap_distance <= 0 else CommandGrammar(
            self.normalizer.vocabulary)
        self.max_candidates = int(max_candidates)
        self.off_grammar_penalty = float(off_grammar_penalty)
        self._resampler: Optional[StreamResampler] = None
        self._armed_until_s = -1.0
        self._early: Optional[tuple] = None  # (key, transcript, wall s, stream s) of a tentative utterance

    @classmethod
    def build(cls, recognizer: Recognizer, vad: str = "silero", mode: str = "vad",
              wake_word: Optional[str] = None, require_wake_word: bool = False,
              min_silence_ms: float = 400.0, max_utterance_s: float = 12.0, early_ms: float = 200.0,
              **kwargs: object) -> "VoiceCommandPipeline":
        """Convenience constructor with the default segmenter and normalizer
        (``early_ms``: see :class:`UtteranceSegmenter`)."""
        seg = UtteranceSegmenter(build_vad(vad) if mode == "vad" else None, mode=mode,
                                 min_silence_ms=min_silence_ms, max_utterance_s=max_utterance_s,
                                 early_ms=early_ms)
        norm = TranscriptNormalizer(wake_word=wake_word)
        return cls(recognizer, seg, norm, require_wake_word=require_wake_word, **kwargs)  # type: ignore[arg-type]

    # ----------------------------------------------------------- streaming
    def reset(self) -> None:
        """Start a new stream (drops partial audio and the wake-word arming)."""
        self.segmenter.reset()
        self._resampler = None
        self._armed_until_s = -1.0
        self._early = None

    def feed(self, audio: np.ndarray, sample_rate: int) -> List[VoiceResult]:
        """Feed a chunk of ``(N,)``/``(N, C)`` int16/float audio at any
        accepted rate. Raises :class:`~vl_tracking_ros.voice.errors.AudioFormatError`
        for audio it cannot interpret (the stream state is kept)."""
        rate = check_rate(sample_rate)
        mono = to_mono_float32(audio)
        if self._resampler is None or self._resampler.sample_rate != rate:
            self._resampler = StreamResampler(rate)
        return self.feed_16k(self._resampler.push(mono))

    def feed_16k(self, audio_f32: np.ndarray) -> List[VoiceResult]:
        """Feed ``(N,) float32`` mono 16 kHz audio."""
        out: List[VoiceResult] = []
        for u in self.segmenter.push(audio_f32):
            if u.reason == "tentative":  # recognize now, while the segmenter waits for the end
                t0 = time.perf_counter()
                tr = self.choose(self.recognizer.transcribe(u.audio_f32, prompt=self.prompt))
                self._early = ((u.start_s, u.speech_end_s), tr, time.perf_counter() - t0, u.closed_at_s)
            else:
                out.append(self.process_utterance(u))
        return out

    def set_pressed(self, pressed: bool) -> List[VoiceResult]:
        """Push-to-talk button (``"push_to_talk"`` segmenter mode)."""
        return [self.process_utterance(u) for u in self.segmenter.set_pressed(pressed)]

    def flush(self) -> List[VoiceResult]:
        """End of stream: process buffered audio and an open utterance."""
        out: List[VoiceResult] = []
        if self._resampler is not None:
            out += self.feed_16k(self._resampler.flush())
        out += [self.process_utterance(u) for u in self.segmenter.flush()]
        return out

    def run_clip(self, audio: np.ndarray, sample_rate: int, chunk_s: float = 0.1) -> List[VoiceResult]:
        """Process a whole recording as a stream of ``chunk_s`` chunks (as a
        live source would deliver it), from a fresh stream state."""
        self.reset()
        step = max(1, int(round(chunk_s * sample_rate)))
        arr = np.asarray(audio)
        out: List[VoiceResult] = []
        for i in range(0, arr.shape[0], step):
            out += self.feed(arr[i:i + step], sample_rate)
        out += self.flush()
        return out

    # ----------------------------------------------------------- decisions
    def process_utterance(self, utt: Utterance) -> VoiceResult:
        """Recognize one utterance and decide whether it is a command."""
        t0 = time.perf_counter()
        early, self._early = self._early, None
        if early is not None and early[0] == (utt.start_s, utt.speech_end_s):  # same speech: reuse
            transcript, before_s, started_at = early[1], early[2], early[3]
        else:
            transcript = self.choose(self.recognizer.transcribe(utt.audio_f32, prompt=self.prompt))
            before_s, started_at = 0.0, utt.closed_at_s
        norm = self._normalize(transcript)
        command, reason, detail = self._decide(transcript, norm, utt)
        return VoiceResult(transcript=transcript, normalized=norm, command=command, reason=reason,
                           detail=detail, start_s=utt.start_s, speech_end_s=utt.speech_end_s,
                           closed_at_s=utt.closed_at_s, processing_s=before_s + time.perf_counter() - t0,
                           segment_reason=utt.reason, asr_started_at_s=started_at)

    def _normalize(self, transcript: Transcript) -> Normalized:
        """Normalize the chosen command text; ``plain`` stays the raw
        transcript's (what was heard, for WER)."""
        if transcript.command_text is None:
            return self.normalizer.normalize(transcript.text)
        norm = self.normalizer.normalize(transcript.command_text)
        heard = self.normalizer.normalize(transcript.text)
        snapped = [(a, b) for a, b in (transcript.choice or {}).get("snapped", [])]
        return Normalized(text=norm.text, plain=heard.plain, wake_word_heard=heard.wake_word_heard,
                          corrections=heard.corrections + snapped, dropped=heard.dropped)

    def choose(self, transcript: Transcript) -> Transcript:
        """Pick the command among the recognizer's n-best hypotheses.

        With a grammar: every hypothesis is normalized and snapped to its
        closest grammatical commands (plus the runner-up words of uncertain
        slots, :meth:`~vl_tracking_ros.voice.snap.Snap.variants`). The
        closest candidates within ``snap_distance`` (at most
        ``max_candidates``, with the recognizer's own best transcript when
        it parses but is off the grammar, handicapped by
        ``off_grammar_penalty``) are scored by the recognizer on the audio
        (:attr:`Transcript.scorer`); the most likely one becomes
        ``command_text`` (without a scorer: the closest one). The raw
        ``text`` and its confidence are kept. No grammatical candidate, or
        no grammar: :meth:`choose_parsing` alone (the transcript is judged
        as heard)."""
        out = self.choose_parsing(transcript)
        if self.grammar is None or self.snap_distance <= 0:
            return dataclasses.replace(out, scorer=None)
        hyps = list(transcript.alternatives) or [(transcript.text, 0.0)]
        cands: Dict[str, dict] = {}

        def add(text: str, distance: float, rank: int, grammatical: bool, via: str) -> None:
            c = cands.get(text)
            if c is None or (distance, rank) < (c["distance"], c["rank"]):
                cands[text] = {"distance": round(distance, 4), "rank": rank, "grammatical": grammatical,
                               "via": via}

        for rank, (text, _score) in enumerate(hyps):
            norm = self.normalizer.normalize(text)
            snap = self.grammar.snap(norm.text)
            if snap is not None and snap.distance <= self.snap_distance:
                add(snap.text, snap.distance, rank, True, norm.text)
                for alt, dist in snap.variants():
                    if dist <= self.snap_distance:
                        add(alt, dist, rank, True, norm.text)
        # what the recognizer itself heard best (open vocabulary: "track the umbrella")
        # stays a candidate when it parses but is not grammatical: both the
        # parsing choice and the recognizer's own top hypothesis (a lower-ranked
        # in-vocabulary hypothesis must not hide a clearly heard unknown word)
        heard = self.normalizer.normalize(out.text).text
        for rank, text in enumerate(dict.fromkeys([heard, self.normalizer.normalize(hyps[0][0]).text])):
            if text in cands:
                continue
            try:
                cmd = parse(text, use_core=self.use_core_parser)
                if not any(all(w in FUNCTION_WORDS for w in q.expression.split()) for q in cmd.queries):
                    add(text, 0.0, rank, False, text)
            except NotACommand:
                pass
        if not any(c["grammatical"] for c in cands.values()):
            return dataclasses.replace(out, scorer=None)
        ranked = sorted(cands.items(), key=lambda kv: (kv[1]["distance"], kv[1]["rank"]))
        keep = [kv for kv in ranked if not kv[1]["grammatical"]]
        keep += [kv for kv in ranked if kv[1]["grammatical"]][: max(1, self.max_candidates - len(keep))]
        scorer = transcript.scorer
        scores, score_s, score_error = None, 0.0, None
        if scorer is not None and len(keep) > 1:
            t0 = time.perf_counter()
            try:
                scores = scorer([t for t, _ in keep])
            except Exception as exc:  # noqa: BLE001 - a scoring failure must not lose the utterance
                score_error = f"{type(exc).__name__}: {exc}"
            score_s = time.perf_counter() - t0
        if scores is not None:
            for (t, c), (logp, n_tok) in zip(keep, scores):
                c["logprob"] = round(logp, 3)
                c["score"] = round(logp - (0.0 if c["grammatical"] else self.off_grammar_penalty), 3)
            best_text, best = max(keep, key=lambda kv: (kv[1]["score"], -kv[1]["distance"]))
        else:  # no scorer (or it failed): the closest candidate
            best_text, best = min(keep, key=lambda kv: (kv[1]["distance"], kv[1]["rank"]))
        snapped = [] if best_text == heard else [[heard, best_text]]
        choice = {"command": best_text, "snapped": snapped, "score_s": round(score_s, 3),
                  "candidates": [{"text": t, **c} for t, c in keep]}
        if score_error:
            choice["score_error"] = score_error
        return dataclasses.replace(out, command_text=best_text, choice=choice, scorer=None)

    def choose_parsing(self, transcript: Transcript) -> Transcript:
        """Pick among the recognizer's n-best hypotheses: the most likely one
        that parses as a command whose words the vocabulary all knows; else
        the most likely one that parses; else the top hypothesis."""
        if len(transcript.alternatives) < 2:
            return transcript
        known = self.normalizer.vocabulary.known_words
        best_key, best = None, None
        for rank, (text, score) in enumerate(transcript.alternatives):
            norm = self.normalizer.normalize(text)
            try:
                parse(norm.text, use_core=self.use_core_parser)
            except NotACommand:
                continue
            words = norm.text.split()
            in_vocab = all(w in known for w in words)
            key = (in_vocab, score)
            if best_key is None or key > best_key:
                best_key, best = key, (rank, text, score)
        if best is None or best[0] == 0:
            return transcript
        return transcript.with_text(best[1], best[2])

    def decide_text(self, text: str, confidence: float = 1.0) -> VoiceResult:
        """Run the text half of the pipeline on a given transcript (tests,
        typed input): normalization, wake word, grammar."""
        transcript = Transcript(text=text, confidence=confidence)
        norm = self.normalizer.normalize(text)
        fake = Utterance(np.zeros(0, np.float32), 0.0, 0.0, 0.0, 0.0, "text")
        command, reason, detail = self._decide(transcript, norm, fake)
        return VoiceResult(transcript, norm, command, reason, detail)

    def _decide(self, transcript: Transcript, norm: Normalized, utt: Utterance):
        if not norm.text and not norm.wake_word_heard:
            return None, NO_SPEECH, "nothing recognized" if not transcript.text else f"only filler: {transcript.text!r}"
        if self.require_wake_word:
            armed = utt.start_s <= self._armed_until_s
            if norm.wake_word_heard and not norm.text:
                self._armed_until_s = utt.closed_at_s + self.wake_window_s
                return None, WAKE_WORD_ONLY, f"listening for {self.wake_window_s:.0f} s"
            if not norm.wake_word_heard and not armed:
                return None, NO_WAKE_WORD, f"commands must start with {self.normalizer.wake_word!r}"
            self._armed_until_s = -1.0
        elif not norm.text:
            return None, WAKE_WORD_ONLY, "wake word without a command"
        if transcript.confidence < self.min_confidence:
            return None, LOW_CONFIDENCE, f"confidence {transcript.confidence:.2f} < {self.min_confidence:.2f}"
        try:
            cmd = parse(norm.text, use_core=self.use_core_parser)
        except NotACommand as exc:
            return None, NOT_A_COMMAND, str(exc)
        for q in cmd.queries:  # a cut-off transcript ("track all the") names nothing
            if all(w in FUNCTION_WORDS for w in q.expression.split()):
                return None, NOT_A_COMMAND, f"the expression {q.expression!r} names nothing (cut off?)"
        if transcript.unprompted_text is not None and echoes_prompt(transcript.text, self.prompt):
            from difflib import SequenceMatcher

            plain = self.normalizer.normalize(transcript.unprompted_text).text.split()
            agree = SequenceMatcher(None, norm.text.split(), plain).ratio()
            if agree < self.echo_agreement:
                return None, PROMPT_ECHO, (f"heard a prompt example; without the prompt the audio reads "
                                           f"{transcript.unprompted_text!r} (agreement {agree:.2f})")
        return cmd.text, ACCEPTED, ""
