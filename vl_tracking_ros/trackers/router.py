"""The ``default`` preset: route each command to the model that answers it.

``track <expression>`` (single target) goes to the single-object language
tracker (preset ``mvlm-small`` by default); ``track all <expression>``
(every matching object) goes to the referring multi-object tracker (preset
``rmot-small``). Each role is built lazily, on the first command that needs
it, so a node that only ever hears "track the red ball" never loads the
referring model. When a role's model cannot be built (weights missing, module
not there yet, a backend error) the router logs why and uses the numpy-only
``heuristic`` preset for that role instead; the substitution is stated in
:attr:`RoutingTracker.fallbacks` and :meth:`RoutingTracker.description`
(the node reports the description in its diagnostics and TrackArray.tracker).

Track IDs of the two roles are remapped to one ID space owned by the router
instance, so IDs never collide in the merged output.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..core.tracker import Tracker
from ..core.types import SensorFrame, TargetQuery, TrackerOutput, TrackResult

_LOG = logging.getLogger(__name__)

#: role name -> TargetQuery.multi value it answers
_ROLES: Tuple[Tuple[str, bool], ...] = (("single", False), ("multi", True))


class RoutingTracker(Tracker):
    """Dispatches single-target and multi-target queries to two trackers.

    single_preset: preset for ``track ...`` queries.
    multi_preset: preset for ``track all ...`` queries.
    fallback_preset: preset used for a role whose model cannot be built.
    options: keyword options forwarded to every ``build_tracker`` call
        (``device``, ``backend``, ``weights_dir``, ...).
    """

    name = "default"
    supported_modalities = ("rgb", "depth", "thermal", "event")
    multi_target = True

    def __init__(self, single_preset: str = "mvlm-small", multi_preset: str = "rmot-small",
                 fallback_preset: str = "heuristic", **options: Any) -> None:
        self._presets: Dict[str, str] = {"single": single_preset, "multi": multi_preset}
        self._fallback_preset = fallback_preset
        self._options = dict(options)
        self._trackers: Dict[str, Tracker] = {}
        self._built_preset: Dict[str, str] = {}
        #: role -> reason the fallback preset is used instead of the configured one
        self.fallbacks: Dict[str, str] = {}
        self._queries: List[TargetQuery] = []
        self._active: Dict[str, List[TargetQuery]] = {"single": [], "multi": []}
        # (role, inner track id) -> router track id; counter owned by this instance
        self._id_map: Dict[Tuple[str, int], int] = {}
        self._next_id = 1

    # ------------------------------------------------------------------ build
    def _build(self, preset: str) -> Tracker:
        return build_with_options(preset, **self._options)

    def _tracker_for(self, role: str) -> Tracker:
        """The tracker of ``role`` ("single" / "multi"), built on first use."""
        if role in self._trackers:
            return self._trackers[role]
        preset = self._presets[role]
        try:
            tracker = self._build(preset)
            self._built_preset[role] = preset
        except Exception as exc:  # missing weights, module not implemented, backend failure
            reason = f"{type(exc).__name__}: {exc}"
            self.fallbacks[role] = f"{preset} unavailable ({reason}); using {self._fallback_preset}"
            _LOG.error("router: cannot build %s preset %r for %r commands (%s); falling back to %r",
                       role, preset, "track all" if role == "multi" else "track", reason,
                       self._fallback_preset)
            tracker = build_with_options(self._fallback_preset, **self._options)
            self._built_preset[role] = self._fallback_preset
        self._trackers[role] = tracker
        return tracker

    def warm_up(self, roles: Sequence[str] = ("single", "multi")) -> None:
        """Build the trackers of ``roles`` now instead of on the first command
        (moves model-load time out of the first tracked frame)."""
        for role in roles:
            self._tracker_for(role)

    # --------------------------------------------------------------- contract
    def set_commands(self, queries: Sequence[TargetQuery]) -> None:
        self._queries = list(queries)
        for role, multi in _ROLES:
            wanted = [q for q in self._queries if q.multi == multi]
            if wanted == self._active[role]:
                continue
            self._active[role] = wanted
            if wanted:
                self._tracker_for(role).set_commands(wanted)
            elif role in self._trackers:
                self._trackers[role].clear()
            # a new query set starts new tracks: forget the old ID mapping of this role
            self._id_map = {k: v for k, v in self._id_map.items() if k[0] != role}

    def step(self, frame: SensorFrame) -> TrackerOutput:
        tracks: List[TrackResult] = []
        timings: Dict[str, float] = {}
        modes: List[str] = []
        search = "global"
        for role, _multi in _ROLES:
            if not self._active[role]:
                continue
            out = self._trackers[role].step(frame)
            for tr in out.tracks:
                tr.track_id = self._router_id(role, int(tr.track_id))
                tracks.append(tr)
            for key, value in out.timings_ms.items():
                timings[f"{role}.{key}"] = float(value)
            if out.mode != "idle":
                modes.append(out.mode)
            if role == "single":
                search = out.search
        mode = "multi" if "multi" in modes else ("single" if modes else "idle")
        return TrackerOutput(tracks=tracks, mode=mode, search=search, timings_ms=timings)

    def clear(self) -> None:
        self.set_commands([])

    def close(self) -> None:
        for tracker in self._trackers.values():
            tracker.close()
        self._trackers.clear()

    # ---------------------------------------------------------------- helpers
    def _router_id(self, role: str, inner_id: int) -> int:
        key = (role, inner_id)
        if key not in self._id_map:
            self._id_map[key] = self._next_id
            self._next_id += 1
        return self._id_map[key]

    def built_presets(self) -> Dict[str, str]:
        """role -> preset actually built so far (after any fallback)."""
        return dict(self._built_preset)

    def description(self) -> str:
        """One line naming the presets in use, e.g.
        ``default(single=mvlm-small, multi=heuristic [fallback])``."""
        parts = []
        for role, _multi in _ROLES:
            preset = self._built_preset.get(role, self._presets[role] + " (not loaded)")
            if role in self.fallbacks:
                preset += " [fallback]"
            parts.append(f"{role}={preset}")
        return f"{self.name}({', '.join(parts)})"


def build_with_options(preset: str, **options: Any) -> Tracker:
    """``registry.build_tracker(preset, **options)`` passing only the options
    the preset's factory accepts (all of them when it takes ``**kwargs``), so
    one option set (device, backend, weights_dir, ...) serves every preset --
    the numpy-only heuristic has no device."""
    import importlib
    import inspect

    from .registry import PRESETS, build_tracker

    if preset in PRESETS and options:
        module_name, factory_name = PRESETS[preset].split(":")
        try:
            factory = getattr(importlib.import_module(module_name), factory_name)
            params = inspect.signature(factory).parameters
        except (ImportError, AttributeError, TypeError, ValueError):
            params = None  # let build_tracker raise its own, clearer error
        if params is not None and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            options = {k: v for k, v in options.items() if k in params}
    return build_tracker(preset, **options)


def build_default(single_preset: str = "mvlm-small", multi_preset: str = "rmot-small",
                  fallback_preset: str = "heuristic", warm_up: bool = False,
                  **options: Any) -> RoutingTracker:
    """Factory of the ``default`` preset (see module docstring).

    warm_up: build both roles now (slower start, no model-load pause on the
        first command) instead of lazily.
    options: forwarded to ``build_tracker`` for each role (device, backend, ...).
    """
    tracker = RoutingTracker(single_preset=single_preset, multi_preset=multi_preset,
                             fallback_preset=fallback_preset, **options)
    if warm_up:
        tracker.warm_up()
    return tracker


def fallback_reasons(tracker: Optional[Tracker]) -> Dict[str, str]:
    """role -> fallback reason for a RoutingTracker, {} for any other tracker."""
    return dict(getattr(tracker, "fallbacks", {}) or {})
