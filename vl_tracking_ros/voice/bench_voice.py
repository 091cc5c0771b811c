"""``vl-tracking bench voice --json OUT``: voice-command accuracy, WER, latency.

A fixed list of commands the tracker accepts is synthesized with espeak-ng
(several voices and speeds), padded with silence, mixed with white noise at
each SNR level (clean, 20 dB, 10 dB by default) and streamed in 100 ms chunks
through the real pipeline (silero VAD -> Whisper tiny.en int8 -> vocabulary
normalization -> command grammar), exactly as the node runs it.

Metrics per SNR level:
  exact_accuracy   fraction of utterances whose accepted commands are exactly
                   [the reference command] (both in canonical parsed form).
  wer_raw          word error rate of the raw transcript (lower-cased, digits
                   spelled, punctuation removed) against the reference words.
  wer_normalized   the same after wake-word / filler removal and vocabulary
                   correction (what the grammar sees).
  latency_s        end of speech (true end of the synthesized speech) ->
                   command published, as it unfolds on a live stream:
                   recognition starts after ``--early-ms`` of silence (or at
                   the end), the command is out when both the
                   ``--min-silence-ms`` wait and recognition + normalization +
                   parsing (wall time) are done, plus, when rclpy is
                   available, a real DDS publish -> subscriber receipt.
                   p50 / p95 / max.
  false_accepts    non-command sentences published as commands (clean only).

The figures are what this machine measured; the JSON records the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .grammar import NotACommand, parse
from .normalize import basic_normalize
from .synth import Voice, add_noise, espeak_available, synthesize, trim_silence

#: Commands the tracker accepts (``core.commands`` grammar), words from the
#: synthetic world's vocabulary. Fixed: figures stay comparable across runs.
BENCH_COMMANDS: Tuple[str, ...] = (
    "track the red car",
    "track all people",
    "stop",
    "track the blue ball",
    "track all cars moving left",
    "track the person on the left",
    "track the large green box",
    "track the hot person",
    "track all cold objects",
    "track the drone at the top",
    "track the yellow ball moving right",
    "track all striped boxes",
    "track the small white drone",
    "track the car to the left of the person",
    "track all people standing still",
    "track the fast car",
    "track the warm box on the right",
    "track the purple object",
    "track all red cars",
    "track the orange ball near the bottom",
    "track the pedestrian moving right",
    "track the black car",
    "track all vehicles on the right",
    "track the checkered ball",
    "track the big box below the drone",
    "track all dotted balls",
    "follow the person moving left",
    "track the cold drone",
    "track all drones moving up",
    "track the green car right of the box",
    "track the white person",
    "stop tracking",
)

#: Sentences that are not commands (must be transcribed, never published).
NON_COMMANDS: Tuple[str, ...] = (
    "the weather is nice today",
    "where did I leave my keys",
    "can you hear me",
    "let us have lunch at noon",
    "this is a test of the microphone",
    "the meeting starts in ten minutes",
)

#: espeak-ng voices x speeds; each command is spoken by ``variants`` of them.
BENCH_VOICES: Tuple[Voice, ...] = (
    Voice("en-us", 150, 50),
    Voice("en-gb", 170, 45),
    Voice("en-us+f3", 140, 60),
    Voice("en-gb-scotland", 160, 50),
    Voice("en-029", 150, 40),
    Voice("en-us+m3", 185, 50),
)


#: A separate *development* set for tuning (never the evaluation list above):
#: other commands, other non-command sentences (some of them look like
#: commands) and other espeak-ng voices. ``--set dev`` runs it.
DEV_COMMANDS: Tuple[str, ...] = (
    "track the green ball",
    "track all boxes",
    "track the small red car",
    "track all hot drones",
    "track the blue car moving left",
    "track the person at the bottom",
    "track the cold ball on the right",
    "track all yellow balls",
    "track the striped drone",
    "track the tiny box",
    "track the quadcopter going up",
    "track all pedestrians on the left",
    "track the white box near the top",
    "track the orange drone above the car",
    "track the heated ball",
    "track all purple objects",
    "track the black ball below the box",
    "track the large drone moving down",
    "follow the red person",
    "track all plain boxes",
    "track the spotted car",
    "track the person in blue",
    "track all vehicles moving right",
    "track the chilled crate",
    "track the green drone left of the ball",
    "track all small cars",
    "track the checked box",
    "track the warm person standing still",
    "track all black drones",
    "track the yellow car at the top",
    "track the quick ball",
    "stop",
)
DEV_NON_COMMANDS: Tuple[str, ...] = (
    "turn off the lights please",
    "what time is it",
    "I think the car is red",
    "the ball is on the left",
    "please open the door",
    "good morning everyone",
    "the drone is flying over there",
    "put the box on the table",
    "track and field starts at noon",
    "stop talking so loud",
)
DEV_VOICES: Tuple[Voice, ...] = (
    Voice("en-gb-x-rp", 160, 50),
    Voice("en-us-nyc", 170, 50),
    Voice("en-gb-x-gbclan", 150, 45),
    Voice("en-us+f2", 145, 60),
    Voice("en-gb-x-gbcwmd", 165, 50),
    Voice("en-029+m2", 155, 45),
)


@dataclass
class Clip:
    """One synthesized utterance with its ground truth."""

    reference: str          # the sentence spoken
    expected: Optional[str]  # canonical command, None for non-commands
    voice: Voice
    audio_f32: np.ndarray   # clean speech with silence padding, at `rate`
    rate: int
    speech_end_s: float     # true end of speech within audio_f32


def word_errors(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Word-level Levenshtein distance (substitutions + insertions + deletions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def make_clips(commands: Sequence[str], voices: Sequence[Voice], variants: int,
               lead_s: float = 0.5, tail_s: float = 1.2) -> List[Clip]:
    """Synthesize each command with ``variants`` voices (rotating through
    ``voices`` so every voice is used equally)."""
    clips: List[Clip] = []
    for i, text in enumerate(commands):
        try:
            expected: Optional[str] = parse(basic_normalize(text)).text
        except NotACommand:
            expected = None
        for k in range(variants):
            voice = voices[(i + k * max(1, len(voices) // max(variants, 1))) % len(voices)]
            audio, rate = synthesize(text, voice)
            speech = trim_silence(audio)
            lead, tail = int(lead_s * rate), int(tail_s * rate)
            padded = np.concatenate([np.zeros(lead, np.float32), speech, np.zeros(tail, np.float32)])
            clips.append(Clip(text, expected, voice, padded, rate, (lead + speech.shape[0]) / rate))
    return clips


class _DdsHop:
    """Publishes each accepted command over real DDS (private context and
    domain) and measures publish -> subscriber receipt."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import String

        self._String = String
        domain = 1 + (os.getpid() * 7919) % 100
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node("bench_voice", context=self.ctx)
        self.pub = self.node.create_publisher(String, "command", 10)
        self.got: List[str] = []
        self.node.create_subscription(String, "command", lambda m: self.got.append(m.data), 10)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        deadline = time.monotonic() + 5.0
        while self.pub.get_subscription_count() < 1 and time.monotonic() < deadline:
            self.ex.spin_once(timeout_sec=0.05)

    def send(self, text: str, timeout_s: float = 2.0) -> float:
        """Seconds from publish to receipt (NaN on timeout)."""
        n = len(self.got)
        t0 = time.perf_counter()
        self.pub.publish(self._String(data=text))
        while len(self.got) == n and time.perf_counter() - t0 < timeout_s:
            self.ex.spin_once(timeout_sec=0.001)
        return time.perf_counter() - t0 if len(self.got) > n else float("nan")

    def close(self) -> None:
        self.ex.shutdown()
        self.node.destroy_node()
        self.ctx.try_shutdown()


def machine_info() -> Dict[str, object]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "gpu": "none (CPU only)", "load_average_1_5_15min": load}


def _pct(values: Sequence[float], q: float) -> Optional[float]:
    v = [x for x in values if np.isfinite(x)]
    return round(float(np.percentile(v, q)), 3) if v else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", required=True, help="write the figures here (JSON)")
    parser.add_argument("--snr", default="clean,20,10",
                        help="comma-separated SNR levels in dB ('clean' = no noise); default clean,20,10")
    parser.add_argument("--variants", type=int, default=2,
                        help="voices/speeds per command (default 2 -> 64 utterances per SNR)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N commands (0 = all)")
    parser.add_argument("--non-commands", type=int, default=99,
                        help="how many of the non-command sentences to check (default all: "
                             f"{len(NON_COMMANDS)} bench, {len(DEV_NON_COMMANDS)} dev)")
    parser.add_argument("--model-dir", default="", help="CTranslate2 Whisper directory (default: tiny.en wheel)")
    parser.add_argument("--threads", type=int, default=1, help="recognizer CPU threads (default 1)")
    parser.add_argument("--beam-size", type=int, default=1, help="decoder beam (default 1; widened to --hypotheses)")
    parser.add_argument("--hypotheses", type=int, default=4,
                        help="n-best hypotheses the pipeline chooses from (default 4; 1 = greedy only)")
    parser.add_argument("--vad", default="silero", choices=("silero", "energy"))
    parser.add_argument("--min-silence-ms", type=float, default=400.0, help="end-of-utterance silence")
    parser.add_argument("--early-ms", type=float, default=200.0,
                        help="start recognition after this much silence (0 = only at the end)")
    parser.add_argument("--no-prompt", action="store_true", help="ablation: no vocabulary prompt")
    parser.add_argument("--no-correction", action="store_true", help="ablation: no vocabulary snapping")
    parser.add_argument("--no-dds", action="store_true", help="do not add the measured DDS publish hop")
    parser.add_argument("--set", default="bench", choices=("bench", "dev"),
                        help="bench: the fixed evaluation list (default); dev: the separate tuning list "
                             "(other commands, non-commands and voices)")
    parser.add_argument("--snap-distance", type=float, default=0.3,
                        help="grammar snapping: max distance per letter (0 = off; default 0.3)")
    parser.add_argument("--candidates", type=int, default=5, help="candidate commands scored per utterance")
    parser.add_argument("--off-grammar-penalty", type=float, default=8.0,
                        help="log-prob handicap of heard commands outside the grammar (default 8)")
    parser.add_argument("--score-with-prompt", action="store_true",
                        help="condition candidate scoring on the vocabulary prompt (slower)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed")
    parser.add_argument("--details", action="store_true", help="include every utterance in the JSON")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .normalize import TranscriptNormalizer
    from .pipeline import VoiceCommandPipeline
    from .recognizer import WhisperRecognizer
    from .segmenter import UtteranceSegmenter
    from .vad import build_vad

    if not espeak_available():
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng); it synthesizes the test speech")
    snrs: List[Optional[float]] = []
    for tok in str(args.snr).split(","):
        tok = tok.strip().lower()
        snrs.append(None if tok in ("clean", "inf", "") else float(tok))
    all_commands, non_commands, voices = ((DEV_COMMANDS, DEV_NON_COMMANDS, DEV_VOICES) if args.set == "dev"
                                          else (BENCH_COMMANDS, NON_COMMANDS, BENCH_VOICES))
    commands = all_commands[: args.limit] if args.limit else all_commands

    machine_start = machine_info()
    t_load = time.perf_counter()
    rec = WhisperRecognizer(args.model_dir or None, cpu_threads=args.threads, beam_size=args.beam_size,
                            num_hypotheses=args.hypotheses, score_with_prompt=args.score_with_prompt)
    load_s = time.perf_counter() - t_load
    norm = TranscriptNormalizer(snap_threshold=1.01 if args.no_correction else 0.8,
                                verb_threshold=1.01 if args.no_correction else 0.6)
    seg = UtteranceSegmenter(build_vad(args.vad), min_silence_ms=args.min_silence_ms, early_ms=args.early_ms)
    pipe = VoiceCommandPipeline(rec, seg, norm, use_prompt=not args.no_prompt, snap_distance=args.snap_distance,
                                max_candidates=args.candidates, off_grammar_penalty=args.off_grammar_penalty)
    hop = None
    if not args.no_dds:
        try:
            hop = _DdsHop()
        except Exception as exc:  # noqa: BLE001 - rclpy missing or DDS unavailable: report without the hop
            print(f"bench voice: no DDS hop measured ({exc})")

    print(f"synthesizing {len(commands)} commands x {args.variants} voices + {args.non_commands} non-commands ...")
    clips = make_clips(commands, voices, args.variants)
    non_clips = make_clips(non_commands[: max(0, args.non_commands)], voices, 1)

    levels: Dict[str, Dict[str, object]] = {}
    details: List[Dict[str, object]] = []
    total = len(clips) * len(snrs) + len(non_clips)
    t_run = time.perf_counter()
    with tqdm(total=total, desc="bench voice", unit="utt") as bar:
        for snr in snrs:
            name = "clean" if snr is None else f"{snr:g}dB"
            exact, errs_raw, errs_norm, n_words, lat, hops, asr = 0, 0, 0, 0, [], [], []
            misses: List[Dict[str, str]] = []
            for ci, clip in enumerate(clips):
                # noise drawn per (seed, clip, level): every level's figure is reproducible on its own
                rng = np.random.default_rng([args.seed, ci, int(round((snr or 0) * 10))])
                audio = clip.audio_f32 if snr is None else add_noise(
                    clip.audio_f32, snr, rng, speech_f32=trim_silence(clip.audio_f32))
                results = pipe.run_clip(audio, clip.rate)
                accepted = [r for r in results if r.accepted]
                ok = [r.command for r in accepted] == [clip.expected]
                exact += ok
                ref_words = basic_normalize(clip.reference).split()
                hyp_raw = " ".join(r.normalized.plain for r in results).split()
                hyp_norm = " ".join(r.normalized.text for r in results).split()
                errs_raw += word_errors(ref_words, hyp_raw)
                errs_norm += word_errors(basic_normalize(clip.expected or clip.reference).split(), hyp_norm)
                n_words += len(ref_words)
                asr += [r.processing_s for r in results]
                for r in accepted:
                    dds = hop.send(r.command) if hop is not None else 0.0
                    hops.append(dds)
                    lat.append(r.latency_since(clip.speech_end_s) + dds)
                if not ok:
                    misses.append({"said": clip.reference, "voice": clip.voice.label(),
                                   "heard": " | ".join(r.transcript.text for r in results),
                                   "published": " | ".join(r.command or "" for r in accepted)})
                if args.details:
                    details.append({"snr": name, "said": clip.reference, "voice": clip.voice.label(), "ok": ok,
                                    "results": [r.to_dict() for r in results]})
                bar.update(1)
                bar.set_postfix(level=name, exact=f"{exact}/{len(clips)}")
            levels[name] = {
                "utterances": len(clips),
                "exact_accuracy": round(exact / len(clips), 4),
                "wer_raw": round(errs_raw / max(n_words, 1), 4),
                "wer_normalized": round(errs_norm / max(n_words, 1), 4),
                "latency_s": {"p50": _pct(lat, 50), "p95": _pct(lat, 95), "max": _pct(lat, 100), "n": len(lat)},
                "asr_s": {"p50": _pct(asr, 50), "p95": _pct(asr, 95)},
                "end_silence_s": args.min_silence_ms / 1000.0,
                "dds_hop_ms_p50": None if hop is None else _pct([h * 1e3 for h in hops], 50),
                "misses": misses,
            }
        false_accepts = []
        for clip in non_clips:
            results = pipe.run_clip(clip.audio_f32, clip.rate)
            false_accepts += [{"said": clip.reference, "published": r.command} for r in results if r.accepted]
            if args.details:
                details.append({"snr": "non_command", "said": clip.reference, "voice": clip.voice.label(),
                                "ok": not any(r.accepted for r in results),
                                "results": [r.to_dict() for r in results]})
            bar.update(1)
    if hop is not None:
        hop.close()

    report = {
        "benchmark": "voice",
        "model": {"dir": str(rec.model_dir), "compute_type": rec.compute_type, "device": rec.device,
                  "threads": args.threads, "beam_size": rec.beam_size,
                  "hypotheses": rec.num_hypotheses, "load_s": round(load_s, 2)},
        "pipeline": {"vad": args.vad, "min_silence_ms": args.min_silence_ms, "early_ms": args.early_ms,
                     "prompt": not args.no_prompt,
                     "vocabulary_correction": not args.no_correction, "vocabulary": norm.vocabulary.source,
                     "snap_distance": args.snap_distance, "candidates": args.candidates,
                     "off_grammar_penalty": args.off_grammar_penalty, "score_with_prompt": args.score_with_prompt,
                     "dds_hop": hop is not None, "chunk_s": 0.1},
        "data": {"set": args.set, "commands": len(commands), "voices": [v.label() for v in voices],
                 "variants_per_command": args.variants, "noise": "white Gaussian, SNR vs. speech power",
                 "seed": args.seed},
        "levels": levels,
        "non_commands": {"utterances": len(non_clips), "false_accepts": false_accepts},
        "targets": {"clean_exact": 0.90, "10dB_exact": 0.75, "p95_latency_s": 1.5},
        "machine_at_start": machine_start,
        "machine_at_end": machine_info(),
        "runtime_s": round(time.perf_counter() - t_run, 1),
    }
    if args.details:
        report["details"] = details
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    for name, lv in levels.items():
        lat_s = lv["latency_s"]
        print(f"{name:>6}: exact {lv['exact_accuracy']:.1%}  WER raw {lv['wer_raw']:.1%} "
              f"norm {lv['wer_normalized']:.1%}  latency p50 {lat_s['p50']} s p95 {lat_s['p95']} s")
    print(f"non-commands published: {len(false_accepts)}/{len(non_clips)}; wrote {out}")
    return 0
