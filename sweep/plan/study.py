"""A study as a dependency graph of searches, all run at once in one Ray Tune run.

Design. Stage-one searches, baseline pairs and baseline retrieval evaluations can start at once; a
pair search (or a retrieval evaluation) needs its intermediate task's encoder, exported when that
task's stage-one search finishes (the search is ``FINISHING`` while its export runs: only the
searches that need it wait). The whole graph runs in a single Tune run, as Ray's maintainers
advise (Tune's FAQ: several Tune runs on one cluster at once are not supported, ray #18851): one
searcher multiplexes every search (``StudySearcher`` in ``sweep.run.tuning``) and one scheduler every
search's ASHA (``StudyScheduler``), because a Tune run has exactly one of each (#21329). The other
design, a pool of concurrent Tune runs, would need unique trainable names per run (#31330), would
leave each run's trials to compete for the cluster blindly, and is what the FAQ warns against.

Each search keeps its own identity inside the one run: its own seeded Optuna TPE study (so its
proposals are those of a search run alone), its own ASHA (a trial is compared only with trials of
its own search), its own caps (``resources.max_concurrent_trials``), its own best trial and row in
the manifest. ``resources.max_trials_in_flight`` caps the study, ``resources.max_searches_in_flight``
the number of searches proposing trials at once. A free slot goes first to a search that others wait on
(a stage-one search, whose end releases its pairs), then to the search with the most trials left to
propose, so that searches progress together and the study does not end with a few late searches running
their last waves alone (``Study.priority``; the benchmark's figures are in the README).

This module is the study's bookkeeping in the driver, with no Ray in it: which search proposes the
next trial, when a search is finished, and its searcher and scheduler state for Tune's experiment
checkpoints (saved with the searcher's, so that after ``sweep resume`` TPE and ASHA continue where
the last checkpoint left them, consistent with the trials Tune restores from the same checkpoint).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sweep.plan.searches import Search

FINISHED = "FINISHED"  # what ``suggest`` returns once every search has proposed all its trials
FINISHING = "finishing"  # a search whose trials all ended and whose end the driver is still completing


@dataclass
class SearchState:
    """The bookkeeping of one search in a running study."""

    search: Search
    samples: int  # trials to run (a retrieval evaluation is one)
    needs: str | None  # the search whose end makes this one ready (None: ready at once)
    searcher: Any = None  # proposes hyperparameters (an Optuna searcher); None: one fixed evaluation
    scheduler: Any = None  # stops weak trials early (ASHA); None: every trial runs to its end
    suggested: list[str] = field(default_factory=list)  # trial ids, in the order they were proposed
    finished: set[str] = field(default_factory=set)  # trials with a completed or stopped attempt
    failed: set[str] = field(default_factory=set)  # trials that errored with no retry left
    state: str = "waiting"  # waiting | running | finishing | done | failed

    @property
    def live(self) -> int:
        """Trials proposed and not yet ended."""
        return len(self.suggested) - len(self.finished & set(self.suggested)) - len(self.failed)

    @property
    def exhausted(self) -> bool:
        """Whether this search will propose no more trials."""
        return self.state in (FINISHING, "done", "failed") or len(self.suggested) >= self.samples


class Study:
    """The searches of one sweep, their dependencies and progress, as the driver sees them.

    ``trial_config(search, sampled)`` builds a trial's Tune config from the values its searcher chose;
    ``finalize(search)`` runs when a search's last trial has ended and returns the search's new state
    (``done`` or ``failed``, or ``FINISHING`` while work it started goes on, such as a stage one's encoder
    export: the searches that need it wait, every other search goes on proposing trials); ``finish(search)``
    is then asked, at each ``suggest`` and ``poll``, for the new state of a finishing search (None: not
    yet); ``skip(search, needed)`` when a search can never run because the search it needs failed;
    ``claim(search)``, when a ready search would start within the caps, says whether it may (False: it waits,
    e.g. for another sweep that trains the same stage one; the driver may have marked it done meanwhile).
    They come from the driver, which knows encoders, specs and the manifest.
    """

    def __init__(
        self,
        states: Iterable[SearchState],
        *,
        trial_config: Callable[[Search, dict[str, Any]], dict[str, Any]],
        finalize: Callable[[Search], str],
        finish: Callable[[Search], str | None] = lambda search: "done",
        skip: Callable[[Search, str], None] = lambda search, needed: None,
        claim: Callable[[Search], bool] = lambda search: True,
        max_concurrent_trials: int,
        max_trials_in_flight: int | None = None,
        max_searches_in_flight: int | None = None,
    ) -> None:
        self.states = {s.search.id: s for s in states}
        self.trial_config = trial_config
        self.finalize, self.finish, self.skip, self.claim = finalize, finish, skip, claim
        self.max_concurrent_trials = max_concurrent_trials
        self.max_trials_in_flight = max_trials_in_flight
        self.max_searches_in_flight = max_searches_in_flight
        self.search_of: dict[str, str] = {}  # trial id -> search id
        self.trial_configs: dict[str, dict[str, Any]] = {}  # trial id -> its Tune config (proposed or restored)
        # How many searches wait, directly or not, on each search: what a slot given to it unblocks.
        self.dependents = {search_id: 0 for search_id in self.states}
        for state in self.states.values():
            needed = state.needs
            while needed is not None and needed in self.states:
                self.dependents[needed] += 1
                needed = self.states[needed].needs
        self.events: Any = None  # the driver's handler of results and trial ends (``StudyCallback`` calls it)

    # --------------------------------------------------------------------------------- proposing

    def ready(self, state: SearchState) -> bool:
        """Whether ``state``'s search may propose trials: what it needs is done, and it has some left."""
        if state.exhausted:
            return False
        return state.needs is None or self.states[state.needs].state == "done"

    def priority(self, state: SearchState) -> tuple[int, int]:
        """Which ready search gets the next slot (smaller first): a search others wait on, then the one
        with the most trials still to propose. With a per-search cap, a search of n trials takes at least
        n / cap trial-lengths however many slots are free, so the searches with the most left start
        first and the study's searches end together instead of a few late ones running alone at the end."""
        return (-self.dependents[state.search.id], -(state.samples - len(state.suggested)))

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        """The next trial's config, from the ready search of highest ``priority`` (plan order among
        equals) that may propose one within the caps. None when every search must wait (for an encoder,
        or for a slot); FINISHED when no search will propose another trial."""
        self.settle()
        if all(s.exhausted for s in self.states.values()):
            return FINISHED
        in_flight = sum(s.live for s in self.states.values())
        if self.max_trials_in_flight is not None and in_flight >= self.max_trials_in_flight:
            return None
        active = sum(1 for s in self.states.values() if s.state == "running")
        for state in sorted(self.states.values(), key=self.priority):  # sorted() keeps plan order among equals
            if not self.ready(state) or state.live >= self.max_concurrent_trials:
                continue
            if state.state == "waiting":
                if self.max_searches_in_flight is not None and active >= self.max_searches_in_flight:
                    continue
                if not self.claim(state.search):  # asked only of a search about to start (it may take a lease)
                    continue
                state.state = "running"
            sampled: dict[str, Any] = {}
            if state.searcher is not None:
                proposal = state.searcher.suggest(trial_id)
                if proposal is None:
                    continue
                sampled = proposal.get("hp", proposal)
            state.suggested.append(trial_id)
            self.search_of[trial_id] = state.search.id
            config = self.trial_config(state.search, sampled)
            self.trial_configs[trial_id] = config
            return config
        return None

    def poll(self) -> None:
        """Finishing searches whose end the driver has completed take their new state."""
        for state in self.states.values():
            if state.state == FINISHING and (new := self.finish(state.search)) is not None:
                state.state = new

    @property
    def finishing(self) -> list[Search]:
        """Searches whose trials all ended and whose end the driver is still completing."""
        return [s.search for s in self.states.values() if s.state == FINISHING]

    def settle(self) -> None:
        """Finishing searches that have ended take their state; searches that can never run (what they need
        failed) fail too."""
        self.poll()
        changed = True
        while changed:
            changed = False
            for state in self.states.values():
                if state.state == "waiting" and state.needs and self.states[state.needs].state == "failed":
                    state.state = "failed"
                    self.skip(state.search, state.needs)
                    changed = True

    # ---------------------------------------------------------------------------------- progress

    def state_of(self, trial_id: str, config: dict[str, Any] | None = None) -> SearchState:
        """The search a trial belongs to (from its config where the study has not seen it)."""
        search_id = self.search_of.get(trial_id) or (config or {}).get("search")
        if search_id is None:
            raise KeyError(f"trial {trial_id} belongs to no search of this study")
        self.search_of[trial_id] = search_id
        return self.states[search_id]

    def trial_finished(self, trial_id: str, config: dict[str, Any] | None = None) -> SearchState:
        """A trial completed or was stopped by its scheduler; finalize its search if it was the last."""
        state = self.state_of(trial_id, config)
        state.finished.add(trial_id)
        state.failed.discard(trial_id)
        self._maybe_finalize(state)
        return state

    def trial_failed(self, trial_id: str, config: dict[str, Any] | None = None) -> SearchState:
        """A trial errored and will not be retried; finalize its search if it was the last."""
        state = self.state_of(trial_id, config)
        if trial_id not in state.finished:
            state.failed.add(trial_id)
        self._maybe_finalize(state)
        return state

    def _maybe_finalize(self, state: SearchState) -> None:
        if state.state in (FINISHING, "done", "failed"):
            return
        ended = (state.finished | state.failed) & set(state.suggested)
        if len(state.suggested) >= state.samples and len(ended) >= len(state.suggested):
            state.state = self.finalize(state.search)

    def finalize_finished(self) -> None:
        """Finalize every search whose trials all finished before the driver died, before its end was
        recorded in the manifest (the searcher state says how many it proposed, or the results do)."""
        for state in self.states.values():
            if state.state in (FINISHING, "done", "failed"):
                continue
            if len(state.finished) >= state.samples:
                state.suggested = list(dict.fromkeys([*state.suggested, *sorted(state.finished)]))
                state.state = self.finalize(state.search)

    @property
    def in_flight(self) -> int:
        """Trials proposed and not yet ended, over the whole study."""
        return sum(s.live for s in self.states.values())

    @property
    def done(self) -> int:
        """Searches that ended (done or failed)."""
        return sum(s.state in ("done", "failed") for s in self.states.values())

    # ------------------------------------------------------------------------- checkpointed state

    def save_state(self) -> bytes:
        """What a resumed study needs of this one: each search's proposals, and its searcher's and
        scheduler's state (both pickle their own ``__dict__``, as their ``save`` methods do)."""
        return pickle.dumps(
            {
                search_id: {
                    "suggested": list(s.suggested),
                    "searcher": None if s.searcher is None else s.searcher.__dict__,
                    "scheduler": None if s.scheduler is None else s.scheduler.__dict__,
                }
                for search_id, s in self.states.items()
            }
        )

    def adopt(self, trials: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Make the study agree with the trials Tune restored, ``(trial id, config)`` in the order Tune made
        them. Tune writes its trials and the searcher state one after the other (and uploads them one after
        the other to shared storage), so a driver killed in between leaves trials the saved searcher never
        proposed: each is asked of its search's searcher now, in order, which brings a seeded searcher to
        the state it had (the values it proposes are the trial's own); and proposals Tune never saved are
        forgotten."""
        known: set[str] = set()
        for trial_id, config in trials:
            search_id = config.get("search")
            if search_id not in self.states:
                continue
            known.add(trial_id)
            state = self.states[search_id]
            self.search_of[trial_id] = search_id
            self.trial_configs[trial_id] = config
            if trial_id not in state.suggested:
                if state.searcher is not None:
                    state.searcher.suggest(trial_id)
                state.suggested.append(trial_id)
                if state.state == "waiting":
                    state.state = "running"
        for state in self.states.values():
            state.suggested = [t for t in state.suggested if t in known or t in state.finished]

    def restore_state(self, data: bytes) -> None:
        """Continue from ``save_state``'s bytes: proposals, TPE studies and ASHA rungs as they were."""
        saved = pickle.loads(data)
        for search_id, entry in saved.items():
            state = self.states.get(search_id)
            if state is None:
                continue
            state.suggested = list(entry["suggested"])
            for trial_id in state.suggested:
                self.search_of[trial_id] = search_id
            if entry["searcher"] is not None and state.searcher is not None:
                state.searcher.__dict__.update(entry["searcher"])
            if entry["scheduler"] is not None and state.scheduler is not None:
                state.scheduler.__dict__.update(entry["scheduler"])
            if state.state == "waiting" and state.suggested:
                state.state = "running"
