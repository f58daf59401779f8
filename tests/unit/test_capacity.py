"""The capacity model's arithmetic (devtools/capacity.py): linear in the load, Little's law for what a
running task holds, the binding quota the least of quota / demand per task, layouts splitting the load.
Pure: a hand-made workload, no simulation (but for one small smoke run of the command)."""

import math
from dataclasses import replace

import pytest

from devtools import capacity as cap

WORKLOAD = cap.Workload(
    "test",
    polls=3.5,
    turnaround_s=600.0,
    job_s=540.0,
    media_s=1500.0,
    tasks=1,
    hints="eta",
    schedule_s=1500.0,
    later_share=0.75,
)
HTTP = cap.Inputs("http", WORKLOAD)
TRANSCRIBE = cap.Inputs("transcribe", WORKLOAD)
REKOGNITION = cap.Inputs("rekognition-text", WORKLOAD)
MILLION = 1_000_000.0


def by_key(rows: list[cap.Row]) -> dict[str, cap.Row]:
    return {r.quota.key: r for r in rows}


@pytest.mark.parametrize("inputs", [HTTP, TRANSCRIBE, REKOGNITION], ids=lambda i: i.provider)
def test_doubling_the_load_doubles_every_rate_and_moves_no_binding_point(inputs: cap.Inputs) -> None:
    once, twice = by_key(cap.rows(inputs, MILLION)), by_key(cap.rows(inputs, 2 * MILLION))
    assert once.keys() == twice.keys()
    for key, row in once.items():
        assert twice[key].demand == pytest.approx(2 * row.demand)
        assert twice[key].utilisation == pytest.approx(2 * row.utilisation) or math.isinf(row.quota.limit)
        assert twice[key].binds_at == row.binds_at


@pytest.mark.parametrize("inputs", [HTTP, TRANSCRIBE, REKOGNITION], ids=lambda i: i.provider)
def test_the_binding_quota_is_the_least_of_quota_over_demand_per_task(inputs: cap.Inputs) -> None:
    found = cap.rows(inputs, MILLION)
    first = cap.binding(found)
    assert first is not None
    aws = [r for r in found if r.quota.scope != "vendor" and r.per_task > 0]
    assert first.binds_at == pytest.approx(min(cap.DAY_S * r.quota.limit / r.per_task for r in aws), rel=1e-12)
    # at its binding point a quota is exactly full
    at_limit = cap.Row(first.quota, first.per_task, first.binds_at)
    assert at_limit.utilisation == pytest.approx(1.0)


def test_what_binds_first_per_provider_at_these_figures() -> None:
    # get and delete: polls + 1 per task each, the most Scheduler calls, at the same 1,000/s: a tie, named
    # in QUOTAS' order whatever the floating point of the sums; the services' job quotas bind far earlier
    found = cap.rows(HTTP, MILLION)
    http_first = cap.binding(found)
    assert http_first is not None and http_first.quota.key == "scheduler-get"
    assert http_first.binds_at == pytest.approx(86_400 * 1_000 / (3.5 + 1))
    assert [r.quota.key for r in cap.tied(found, http_first)] == ["scheduler-get", "scheduler-delete"]
    report = cap.report(HTTP, MILLION)
    tie = "First quota to bind: Scheduler GetSchedule (1,000/s) and Scheduler DeleteSchedule (1,000/s), tied,"
    assert tie in report
    for inputs, key, limit in [(TRANSCRIBE, "transcribe-jobs", 250), (REKOGNITION, "rekognition-jobs", 20)]:
        first = cap.binding(cap.rows(inputs, MILLION))
        assert first is not None and first.quota.key == key
        assert first.binds_at == pytest.approx(86_400 * limit / WORKLOAD.job_s)  # Little: limit = rate x job time


def test_littles_law_for_what_a_running_task_holds() -> None:
    rows = by_key(cap.rows(TRANSCRIBE, MILLION))
    arrivals = MILLION / cap.DAY_S
    assert rows["transcribe-jobs"].demand == pytest.approx(arrivals * WORKLOAD.job_s)
    # every poll's schedule is held from its creation to the clean-up: the simulation's schedule-seconds
    assert rows["scheduler-schedules"].demand == pytest.approx(arrivals * WORKLOAD.schedule_s)
    assert rows["lambda-concurrency"].demand == pytest.approx(arrivals * cap.lambda_seconds_per_task(TRANSCRIBE))
    seconds = cap.invocation_seconds(TRANSCRIBE)
    expected = seconds["segment"] + (WORKLOAD.polls - 1) * seconds["poll"] + seconds["completion"]
    assert cap.lambda_seconds_per_task(TRANSCRIBE) == pytest.approx(expected)


def test_calls_per_task_follow_the_table() -> None:
    calls = cap.per_task_calls(HTTP)
    p = WORKLOAD.polls
    assert calls["scheduler:invocation"] == pytest.approx(p)  # Scheduler invocations = polls
    assert calls["lambda:invocation"] == pytest.approx(p + 1)  # the segment, then each poll
    assert calls["scheduler:GetSchedule"] == pytest.approx(1 + p)  # the segment's poll 1, each poll its own
    assert calls["scheduler:CreateSchedule"] == pytest.approx(p)  # poll 1, then each next one
    assert calls["scheduler:UpdateSchedule"] == pytest.approx(p - 1)  # each running poll retires its own
    assert calls["scheduler:DeleteSchedule"] == pytest.approx(p + 1)  # the clean-up: names 1..n+1
    assert calls["scheduler:ListSchedules"] == 0  # no listing in the loop
    assert calls["s3:GetObject record"] == calls["s3:PutObject record"] == 1
    one_poll = cap.per_task_calls(cap.Inputs("http", replace(WORKLOAD, polls=1.0, later_share=0.0)))
    assert one_poll["scheduler:DeleteSchedule"] == 2 and one_poll["scheduler:CreateSchedule"] == 1
    assert one_poll["scheduler:GetSchedule"] == 2 and one_poll["scheduler:UpdateSchedule"] == 0
    assert one_poll["scheduler:invocation"] == 1


def test_the_clean_ups_deletes_are_timed_in_the_completing_poll_and_no_call_is_lost() -> None:
    d, p = HTTP.durations, WORKLOAD.polls
    seconds = cap.invocation_seconds(HTTP)
    # a running poll: GetSchedule, CreateSchedule, UpdateSchedule, vendor status (its delete comes at the end)
    assert seconds["poll"] == pytest.approx(d.poll_local_s + 4 * d.call_s)
    # the completing poll: GetSchedule, p + 1 deletes, the record, vendor status and result
    assert seconds["completion"] == pytest.approx(d.poll_local_s + (1 + (p + 1) + 3) * d.call_s + d.result_s)
    # summed over a task's invocations, every network call of the table is one round trip
    calls = cap.per_task_calls(HTTP)
    network = sum(calls[c.api] for c in cap.calls_for("http") if c.network)
    local = d.segment_local_s + d.media_transfer_s + p * d.poll_local_s + d.result_s
    assert cap.lambda_seconds_per_task(HTTP) == pytest.approx(local + network * d.call_s)


def test_each_provider_counts_only_its_own_calls_and_quotas() -> None:
    assert "transcribe-jobs" in by_key(cap.rows(TRANSCRIBE, MILLION))
    assert "transcribe-jobs" not in by_key(cap.rows(HTTP, MILLION))
    assert "vendor status" in cap.per_task_calls(HTTP)
    assert "vendor status" not in cap.per_task_calls(REKOGNITION)
    assert "ssm-get" not in by_key(cap.rows(HTTP, MILLION))
    assert "ssm-get" in by_key(cap.rows(replace(HTTP, api_key="parameter"), MILLION))


def test_rekognition_reads_the_result_page_by_page() -> None:
    pages = WORKLOAD.media_s / 3600 * cap.REKOGNITION_PAGES_PER_HOUR
    assert cap.rekognition_pages(REKOGNITION) == pytest.approx(pages)
    assert cap.per_task_calls(REKOGNITION)["rekognition:GetTextDetection"] == pytest.approx(WORKLOAD.polls + pages)
    short = replace(REKOGNITION, workload=replace(WORKLOAD, media_s=10.0))
    assert cap.rekognition_pages(short) == 1.0  # at least the one page


def test_secrets_are_read_per_warm_container_and_cache_period_not_per_call() -> None:
    rows = by_key(cap.rows(HTTP, MILLION))
    containers = cap.CONTAINER_HEADROOM * rows["lambda-concurrency"].demand
    assert rows["secrets-get"].demand == pytest.approx(containers / cap.SECRET_CACHE_S)
    with_key = by_key(cap.rows(replace(HTTP, api_key="secret"), MILLION))
    assert with_key["secrets-get"].demand == pytest.approx(2 * rows["secrets-get"].demand)


def test_a_layout_splits_each_quota_at_its_scope() -> None:
    layout = cap.Layout(accounts=2, regions=3, stacks=12)
    one, split = by_key(cap.rows(HTTP, MILLION)), by_key(cap.layout_rows(HTTP, MILLION, layout))
    assert split["scheduler-delete"].demand == pytest.approx(one["scheduler-delete"].demand / 6)
    assert split["scheduler-delete"].binds_at == pytest.approx(one["scheduler-delete"].binds_at * 6)
    assert split["s3-results-put"].demand == pytest.approx(one["s3-results-put"].demand / 12)
    assert split["vendor-status"].demand == pytest.approx(one["vendor-status"].demand)  # one vendor for all


def test_the_plan_asks_for_as_many_account_regions_as_the_fullest_quota_needs() -> None:
    first = cap.binding(cap.rows(HTTP, MILLION))
    assert first is not None
    load = 3.2 * first.binds_at  # the first quota at 320%
    found = cap.rows(HTTP, load)
    assert cap.account_regions_needed(found, target=1.0) == 4
    assert cap.account_regions_needed(found, target=0.8) == 4  # 3.2 / 0.8 = 4 exactly
    assert cap.account_regions_needed(cap.rows(HTTP, 1.0), target=0.8) == 1
    needed = cap.account_regions_needed(found, 0.8)
    fitted = cap.layout_rows(HTTP, load, cap.Layout(accounts=needed, stacks=needed))
    assert max(r.utilisation for r in fitted if r.quota.scope == "account-region") <= 0.8 + 1e-9
    raises = dict((r.quota.key, value) for r, value in cap.increases_needed(found, 0.8))
    assert raises[first.quota.key] == pytest.approx(3.2 * first.quota.limit / 0.8)


def test_a_quota_increase_moves_the_binding_point() -> None:
    raised = cap.with_quotas({"scheduler-delete": 5_000})
    first = cap.binding(cap.rows(HTTP, MILLION, raised))
    assert first is not None and first.quota.key == "scheduler-get"
    assert [r.quota.key for r in cap.tied(cap.rows(HTTP, MILLION, raised), first)] == ["scheduler-get"]
    both = cap.with_quotas({"scheduler-delete": 5_000, "scheduler-get": 5_000})
    first = cap.binding(cap.rows(HTTP, MILLION, both))
    assert first is not None and first.quota.key == "scheduler-invocations"  # polls per task, then retires
    with pytest.raises(ValueError, match="unknown quota"):
        cap.with_quotas({"no-such-quota": 1})


def test_every_quota_names_a_source_and_every_call_it_counts_exists() -> None:
    apis = {c.api for c in cap.CALLS}
    for quota in cap.QUOTAS:
        assert quota.source in cap.SOURCES
        assert set(quota.apis) <= apis
        assert bool(quota.apis) != bool(quota.holds)
    used = {q.source for q in cap.QUOTAS} | {key for key, _, _ in cap.NOTES}
    assert used == set(cap.SOURCES)  # no source left unused


@pytest.mark.parametrize(
    ("value", "text"),
    [(13_578_501, "13,600,000"), (1_000_000, "1,000,000"), (38.94, "38.9"), (10, "10"), (0.1667, "0.167"), (0, "0")],
)
def test_numbers_are_shown_to_three_figures(value: float, text: str) -> None:
    assert cap._n(value) == text
    assert cap._n(math.inf) == "never"


def test_the_command_runs_the_simulation_and_names_the_first_quota(capsys: pytest.CaptureFixture[str]) -> None:
    cap.main(["--sim-tasks", "200", "--provider", "transcribe", "--quota", "transcribe-jobs=10,000"])
    out = capsys.readouterr().out
    assert "provider `transcribe`" in out
    assert "**First quota to bind:" in out
    assert "Transcribe concurrent batch jobs | account-region" in out
    workload = cap.simulate("600", "none", tasks=200)
    assert workload.name == "mean media 600 s" and workload.polls >= 1 and 0 <= workload.later_share <= 1
    assert 300 <= workload.media_s <= 900


def test_a_task_holds_every_polls_schedule_until_the_clean_up() -> None:
    # submit at 0, polls at 100, 250 and 400 s: 1 schedule for 100 s, 2 for 150 s, 3 for 150 s
    assert cap.schedule_seconds(0, [100_000, 250_000, 400_000]) == pytest.approx(100 + 2 * 150 + 3 * 150)
    assert cap.schedule_seconds(0, [60_000]) == pytest.approx(60)  # one poll: its schedule, submit to poll
    assert cap.schedule_seconds(0, []) == 0
    assert WORKLOAD.schedules_held == pytest.approx(2.5)


def test_the_simulation_is_the_timing_benchmarks_own_run() -> None:
    """simulate mirrors sim.run_policy (same tasks, scheduler and draws) to note each poll's time."""
    workload = cap.simulate("main", "eta", tasks=200)
    tasks = cap.sim.make_tasks(200, cap.SIM_SEED)
    reference = cap.sim.run_policy("pollbridge", cap.sim.pollbridge(60), tasks, cap.sim.ETA_10, cap.SIM_SEED, 1)
    assert workload.polls == pytest.approx(reference.polls_mean)
    assert workload.turnaround_s == pytest.approx(sum(reference.turnaround_s) / 200)
    # at least one schedule all along; about (polls + 1) / 2 on average, more as later waits are longer
    assert 1 <= workload.schedules_held <= max(reference.polls)
    assert workload.schedules_held >= (workload.polls + 1) / 2 * 0.8
