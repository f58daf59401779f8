"""The container's view of the vendor's door (admission.AdmissionWatch) and what it does to the wait."""

from __future__ import annotations

import dataclasses
from typing import Any

from pollbridge.admission import MAX_CROWDING, MIN_SAMPLES, WINDOW_MS, AdmissionWatch
from pollbridge.clock import ManualClock
from pollbridge.errors import TransientError
from pollbridge.models import SchedulePollTask
from pollbridge.timing import PollFacts, PollPolicy, next_submit_time
from tests.support.fakes import World, start

NOW = 1_767_225_600_000


def test_a_door_that_takes_most_tries_is_not_crowded() -> None:
    watch = AdmissionWatch()
    for i in range(100):
        watch.saw(NOW + i, taken=i % 3 != 0)
    assert watch.crowding(NOW + 100) == 1.0


def test_a_door_that_refuses_almost_everything_stretches_the_wait_up_to_the_bound() -> None:
    watch = AdmissionWatch()
    for i in range(200):
        watch.saw(NOW + i, taken=i % 40 == 0)  # 2.5% taken
    assert watch.crowding(NOW + 200) == MAX_CROWDING
    watch = AdmissionWatch()
    for i in range(100):
        watch.saw(NOW + i, taken=i % 5 == 0)  # 20% taken: half the tries should find a slot
    assert 2.0 < watch.crowding(NOW + 100) < 3.0


def test_too_few_or_old_outcomes_say_nothing() -> None:
    watch = AdmissionWatch()
    for i in range(MIN_SAMPLES - 1):
        watch.saw(NOW + i, taken=False)
    assert watch.crowding(NOW + 100) == 1.0
    for i in range(100):
        watch.saw(NOW + i, taken=False)
    assert watch.crowding(NOW + 200) == MAX_CROWDING
    assert watch.crowding(NOW + 200 + WINDOW_MS) == 1.0  # forgotten: a quiet door is not crowded


def test_crowding_stretches_a_young_tasks_wait_within_its_bound_and_the_longest_waiting_less() -> None:
    policy = PollPolicy()
    young = PollFacts("task", 6, NOW, NOW + 10**9, transient_errors=6)  # just came: stretched fully
    plain = next_submit_time(NOW, young, policy) - NOW
    crowded = next_submit_time(NOW, young, policy, crowding=4.0) - NOW
    assert abs(crowded - 4 * plain) <= 4_000
    wild = next_submit_time(NOW, young, policy, crowding=1e9) - NOW
    assert wild <= 6 * policy.admission_max_wait_s * 1000 + 1000
    old = PollFacts("task", 6, NOW - 7_200_000, NOW + 10**9, transient_errors=6)  # its cap at the floor
    old_plain = next_submit_time(NOW, old, policy) - NOW
    old_crowded = next_submit_time(NOW, old, policy, crowding=5.0) - NOW
    kept = 1 + 4 * policy.admission_crowding_kept  # 4x of the stretch, of which it keeps its share
    assert abs(old_crowded - kept * old_plain) <= 4_000 and old_crowded < 5 * old_plain - 60_000
    unstretched = dataclasses.replace(policy, admission_crowding_kept=0.0)
    assert next_submit_time(NOW, old, unstretched, crowding=6.0) == next_submit_time(NOW, old, unstretched)


def test_the_container_counts_refusals_and_taken_jobs_but_not_blips(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    """A 503 or a timeout says nothing about the vendor's capacity; a 429 does (TransientError.refusal),
    and so does a job taken. After enough refusals, deferred submits wait longer."""
    world = World()
    fetched = {k: v for k, v in chunk.items() if k != "content"} | {"cacheURI": "https://cache.example/c.wav"}
    world.provider.submit_error = TransientError("vendor answered 503")
    waits_plain = [start(world, fetched | {"taskId": f"blip-{i}"}) for i in range(MIN_SAMPLES + 5)]
    assert world.ports.admission.crowding(manual_clock.now_ms()) == 1.0  # blips were not counted
    world.provider.submit_error = TransientError("vendor answered 429", refusal=True)
    waits_refused = [start(world, fetched | {"taskId": f"refused-{i}"}) for i in range(MIN_SAMPLES + 5)]
    assert world.ports.admission.crowding(manual_clock.now_ms()) == MAX_CROWDING
    last_plain, last_refused = waits_plain[-1].response, waits_refused[-1].response
    assert isinstance(last_plain, SchedulePollTask) and isinstance(last_refused, SchedulePollTask)
    assert last_plain.taskPayload.awaitingSubmit and last_refused.taskPayload.awaitingSubmit
    assert last_plain.nextPollTimeUTC - last_plain.timestampUTC <= 61_000  # the plain first retry: a minute
    assert last_refused.nextPollTimeUTC - last_refused.timestampUTC >= 180_000  # 6x, from its upper half
    world.provider.submit_error = None
    start(world, fetched | {"taskId": "taken"})
    assert len(world.provider.submitted) == 1
