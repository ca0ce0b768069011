"""The study graph: which search proposes the next trial, under which caps, and what survives a resume."""

from __future__ import annotations

from typing import Any

import pytest

from sweep.plan.searches import Search
from sweep.plan.study import FINISHED, FINISHING, SearchState, Study

NLI = Search(id="intermediate-nli", phase="intermediate", intermediate="nli", target=None)
BASE = Search(id="target-none-xnli", phase="target", intermediate="none", target="xnli")
PAIR = Search(id="target-nli-xnli", phase="target", intermediate="nli", target="xnli")


def study(samples: int = 2, **caps: Any) -> tuple[Study, list[str]]:
    ended: list[str] = []

    def finalize(search: Search) -> str:
        ended.append(search.id)
        return "done"

    states = [SearchState(search=s, samples=samples, needs=s.needs) for s in (NLI, BASE, PAIR)]
    caps = {"max_concurrent_trials": 2, **caps}
    return Study(states, trial_config=lambda s, hp: {"search": s.id, "hp": hp}, finalize=finalize, **caps), ended


def test_a_pair_waits_for_its_intermediate_while_stage_one_and_the_baseline_run() -> None:
    s, ended = study()
    proposed = [s.suggest(f"t{i}") for i in range(5)]
    assert [p["search"] if isinstance(p, dict) else p for p in proposed] == [
        NLI.id,
        NLI.id,
        BASE.id,
        BASE.id,
        None,  # the pair needs the intermediate's encoder; everything else is proposed
    ]
    s.trial_finished("t0")
    assert s.suggest("t5") is None and ended == []  # one stage-one trial is still running
    s.trial_failed("t1")  # errored for good: the search ends with what it has
    assert ended == [NLI.id] and s.states[NLI.id].state == "done"
    assert s.suggest("t5")["search"] == PAIR.id and s.suggest("t6")["search"] == PAIR.id
    assert s.suggest("t7") is FINISHED
    assert s.in_flight == 4 and s.done == 1


@pytest.mark.parametrize(
    ("caps", "first"),
    [
        ({"max_concurrent_trials": 1}, [NLI.id, BASE.id, None]),
        ({"max_trials_in_flight": 1}, [NLI.id, None]),
        ({"max_searches_in_flight": 1}, [NLI.id, NLI.id, None]),
    ],
)
def test_caps(caps: dict[str, int], first: list[str | None]) -> None:
    s, _ = study(**caps)
    got = [s.suggest(f"t{i}") for i in range(len(first))]
    assert [g["search"] if isinstance(g, dict) else g for g in got] == first


def test_a_search_others_wait_on_goes_first_then_the_one_with_most_trials_left() -> None:
    # Plan order puts the baseline first; the intermediate search still gets the first slot, as its pair waits on it.
    states = [SearchState(search=x, samples=4, needs=x.needs) for x in (BASE, NLI, PAIR)]
    s = Study(states, trial_config=lambda x, hp: {"search": x.id}, finalize=lambda x: "done", max_concurrent_trials=1)
    assert [s.suggest(f"t{i}")["search"] for i in range(2)] == [NLI.id, BASE.id]
    # Among searches nobody waits on, the one with the most trials left to propose: they progress together
    # instead of the first in plan order running all its trials before the next starts.
    other = Search(id="target-none-pawsx", phase="target", intermediate="none", target="pawsx")
    states = [SearchState(search=x, samples=4, needs=None) for x in (BASE, other)]
    s = Study(
        states,
        trial_config=lambda x, hp: {"search": x.id},
        finalize=lambda x: "done",
        max_concurrent_trials=2,
        max_trials_in_flight=2,
    )
    assert [s.suggest(f"t{i}")["search"] for i in range(2)] == [BASE.id, other.id]
    s.trial_finished("t0")
    assert s.suggest("t2")["search"] == BASE.id  # 3 left each: plan order
    s.trial_finished("t1")
    assert s.suggest("t3")["search"] == other.id  # 3 left against 2


def test_one_search_at_a_time_starts_the_next_only_when_the_last_ended() -> None:
    s, ended = study(samples=1, max_searches_in_flight=1)
    assert s.suggest("a")["search"] == NLI.id and s.suggest("b") is None
    s.trial_finished("a")
    assert ended == [NLI.id] and s.suggest("b")["search"] == BASE.id and s.suggest("c") is None


def test_when_stage_one_fails_its_pairs_are_skipped_and_the_study_still_finishes() -> None:
    skipped = []
    states = [SearchState(search=x, samples=1, needs=x.needs) for x in (NLI, BASE, PAIR)]
    s = Study(
        states,
        trial_config=lambda x, hp: {"search": x.id},
        finalize=lambda x: "failed" if x is NLI else "done",
        skip=lambda x, needed: skipped.append((x.id, needed)),
        max_concurrent_trials=2,
    )
    s.suggest("a"), s.suggest("b")
    s.trial_failed("a")
    s.trial_finished("b")
    assert s.suggest("c") is FINISHED
    assert skipped == [(PAIR.id, NLI.id)] and s.states[PAIR.id].state == "failed"


@pytest.mark.parametrize("export", ["done", "failed"])
def test_while_a_stage_one_exports_only_its_pairs_wait(export: str) -> None:
    """``finalize`` returns FINISHING while the encoder's export runs: the baseline goes on proposing, the pair
    waits until ``finish`` gives the stage one its state; a failed export fails the pair."""
    outcome: dict[str, str | None] = {NLI.id: None}
    skipped = []
    states = [SearchState(search=x, samples=1, needs=x.needs) for x in (NLI, BASE, PAIR)]
    s = Study(
        states,
        trial_config=lambda x, hp: {"search": x.id},
        finalize=lambda x: FINISHING if x is NLI else "done",
        finish=lambda x: outcome[x.id],
        skip=lambda x, needed: skipped.append(x.id),
        max_concurrent_trials=1,
        max_searches_in_flight=1,
    )
    assert s.suggest("a")["search"] == NLI.id and s.suggest("b") is None
    s.trial_finished("a")
    assert s.states[NLI.id].state == FINISHING and s.finishing == [NLI] and s.done == 0
    assert s.suggest("b")["search"] == BASE.id  # an exporting search holds no slot of the searches' cap
    assert s.suggest("c") is None  # the pair waits for the encoder
    s.trial_finished("b")
    outcome[NLI.id] = export
    s.poll()
    assert s.states[NLI.id].state == export and s.finishing == []
    if export == "done":
        assert s.suggest("c")["search"] == PAIR.id and s.suggest("d") is FINISHED
    else:
        assert s.suggest("c") is FINISHED and skipped == [PAIR.id]


def test_a_finishing_search_that_nobody_needs_lets_the_study_finish() -> None:
    """The Tune run may end while such a search still exports; the driver then waits for it."""
    states = [SearchState(search=NLI, samples=1, needs=None)]
    s = Study(
        states,
        trial_config=lambda x, hp: {"search": x.id},
        finalize=lambda x: FINISHING,
        finish=lambda x: None,
        max_concurrent_trials=1,
    )
    s.suggest("a")
    s.trial_finished("a")
    assert s.suggest("b") is FINISHED and s.finishing == [NLI]


def test_a_stage_one_the_driver_does_not_claim_waits_and_one_it_marks_reused_releases_its_pairs() -> None:
    """``claim``: False keeps a search waiting (another sweep trains it for the checkpoint store); a driver
    that reused the entry meanwhile marks it done, and its pair proposes at once."""
    answers = iter(["wait", "wait", "reused"])
    states = [SearchState(search=x, samples=1, needs=x.needs) for x in (NLI, PAIR)]
    s: Study

    def claim(search: Search) -> bool:
        if search is not NLI:
            return True
        answer = next(answers)
        if answer == "reused":
            s.states[search.id].state = "done"
        return answer == "train"

    s = Study(states, trial_config=lambda x, hp: {"search": x.id}, finalize=lambda x: "done", claim=claim,
              max_concurrent_trials=1)  # fmt: skip
    assert s.suggest("a") is None and s.suggest("b") is None  # waiting: neither it nor its pair proposes
    assert s.suggest("c")["search"] == PAIR.id and s.states[NLI.id].suggested == []
    assert s.suggest("d") is FINISHED


def test_claim_is_asked_only_of_a_search_about_to_start() -> None:
    """A search kept back by ``max_searches_in_flight`` is not claimed: it would take a store lease that
    another sweep could use meanwhile."""
    other = Search(id="intermediate-qa", phase="intermediate", intermediate="qa", target=None)
    asked: list[str] = []
    states = [SearchState(search=x, samples=1, needs=None) for x in (NLI, other)]
    s = Study(
        states,
        trial_config=lambda x, hp: {"search": x.id},
        finalize=lambda x: "done",
        claim=lambda x: asked.append(x.id) or True,
        max_concurrent_trials=1,
        max_searches_in_flight=1,
    )
    assert s.suggest("a")["search"] == NLI.id and s.suggest("b") is None
    assert asked == [NLI.id]
    s.trial_finished("a")
    assert s.suggest("b")["search"] == other.id and asked == [NLI.id, other.id]


def test_searcher_and_scheduler_state_survive_a_resume() -> None:
    """TPE continues its sequence and ASHA keeps its rungs, as after `sweep resume`."""
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    from sweep.preflight.validate import load_config
    from sweep.run.tuning import make_scheduler, make_searcher
    from tests.unit.sweep.test_config import QUICKSTART

    config = load_config(QUICKSTART)

    class Trial:
        def __init__(self, trial_id: str) -> None:
            self.trial_id, self.config = trial_id, {"search": NLI.id}

    def fresh() -> Study:
        state = SearchState(
            search=NLI,
            samples=3,
            needs=None,
            searcher=make_searcher(config, NLI),
            scheduler=make_scheduler(config, NLI, epochs=3),
        )
        return Study([state], trial_config=lambda x, hp: hp, finalize=lambda x: "done", max_concurrent_trials=3)

    uninterrupted = fresh()
    proposals = [uninterrupted.suggest(f"t{i}") for i in range(3)]

    first = fresh()
    assert first.suggest("t0") == proposals[0]
    asha: ASHAScheduler = first.states[NLI.id].scheduler
    asha.on_trial_add(None, Trial("t0"))
    asha.on_trial_result(None, Trial("t0"), {"training_iteration": 1, "objective": 0.9})
    saved = first.save_state()

    resumed = fresh()
    resumed.restore_state(saved)
    assert [resumed.suggest("t1"), resumed.suggest("t2")] == proposals[1:]  # not proposals[0] again
    restored: ASHAScheduler = resumed.states[NLI.id].scheduler
    restored.on_trial_add(None, Trial("t1"))
    # A worse first epoch than the one the rung remembers is stopped; with the rung lost it would go on.
    decision = restored.on_trial_result(None, Trial("t1"), {"training_iteration": 1, "objective": 0.1})
    assert decision == TrialScheduler.STOP
    assert resumed.states[NLI.id].suggested == ["t0", "t1", "t2"] and resumed.search_of["t0"] == NLI.id


def test_trials_tune_restored_but_the_saved_searcher_never_proposed_are_adopted_in_order() -> None:
    """A driver killed between Tune's saving its trials and its searcher: on resume the study asks the
    searcher for the missing ones, so its next proposals are those of an uninterrupted run."""
    from sweep.preflight.validate import load_config
    from sweep.run.tuning import make_searcher
    from tests.unit.sweep.test_config import QUICKSTART

    config = load_config(QUICKSTART)

    def fresh() -> Study:
        state = SearchState(search=NLI, samples=4, needs=None, searcher=make_searcher(config, NLI))
        return Study([state], trial_config=lambda x, hp: hp, finalize=lambda x: "done", max_concurrent_trials=4)

    uninterrupted = fresh()
    proposals = [uninterrupted.suggest(f"t{i}") for i in range(4)]

    first = fresh()
    first.suggest("t0")
    saved = first.save_state()  # the searcher as last saved: it knows t0 only
    first.suggest("t1")
    first.suggest("t2")  # proposed, but Tune was killed before it saved this trial

    resumed = fresh()
    resumed.restore_state(saved)
    resumed.adopt([("t0", {"search": NLI.id}), ("t1", {"search": NLI.id})])  # the trials Tune restored
    assert resumed.states[NLI.id].suggested == ["t0", "t1"]
    assert [resumed.suggest("t2"), resumed.suggest("t3")] == proposals[2:]
