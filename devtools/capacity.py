"""The capacity model: which AWS quota binds first, at how many tasks a day, and what to do past it.

`python -m devtools.capacity [--tasks-per-day N] [--media-mix main|short-clips|long-queues|SECONDS]
[--provider http|transcribe|rekognition-text] [--accounts A --regions R --stacks S] [--quota KEY=VALUE]`
(docs/capacity.md explains the model and pastes its default run).

Everything is linear in the arrival rate. Per task, the model counts each AWS call (CALLS: what one
segment, one poll and the poll that completes the task make) and, by Little's law, what a running
task holds (Lambda execution time, live schedules, a vendor job). A quota of Q per second (or Q held
at once) then binds at 86,400 x Q / (its amount per task) tasks a day. The polls per task, the time
a task runs, the schedules it holds meanwhile (each poll's, until the clean-up) and the vendor's job
time come from the timing simulation (devtools/bench/timing.py:
its workloads and pollbridge.timing's policy itself, seeded); durations from BENCHMARKS.md; quotas
with the page each was read on (QUOTAS, SOURCES).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from devtools.bench import timing as sim
from devtools.bench.report import machine

DAY_S = 86_400
DEFAULT_TASKS_PER_DAY = 1_000_000
SIM_TASKS = 5_000
SIM_SEED = 2026
PROVIDERS = ("http", "transcribe", "rekognition-text")
type Provider = Literal["http", "transcribe", "rekognition-text"]
type Hints = Literal["eta", "progress", "none"]
# What each provider's service tells a poll: the reference vendor API gives estimatedCompletionAt
# (docs/vendor-api.md; the vendor simulator's ETAs are off by up to +-10%); Transcribe only QUEUED or
# IN_PROGRESS; Rekognition only IN_PROGRESS.
PROVIDER_HINTS: dict[str, Hints] = {"http": "eta", "transcribe": "none", "rekognition-text": "none"}
HINTS_TEXT: dict[str, str] = {"eta": "ETAs off by up to +-10%", "progress": "progress only", "none": "no hints"}

# --- the calls: what one task costs, per AWS API ---------------------------------------------------


@dataclass(frozen=True)
class Calls:
    """One API's calls for one task: in the segment, in each poll that finds the job still running,
    and in the poll that completes the task (instead of a running poll's). Per task: segment +
    (polls - 1) x poll + completion. `at_end`: the running polls' share is made by the completing
    poll instead (the clean-up deletes every earlier poll's schedule): the same calls per task, in
    another invocation (see invocation_seconds)."""

    api: str
    segment: float
    poll: float
    completion: float
    providers: frozenset[str] = frozenset(PROVIDERS)
    network: bool = True  # a round trip (counted in the invocation's duration)
    at_end: bool = False
    note: str = ""

    def per_task(self, polls: float) -> float:
        """Mean calls per task, for tasks of `polls` polls on average."""
        return self.segment + max(polls - 1.0, 0.0) * self.poll + self.completion


_AWS = frozenset({"transcribe", "rekognition-text"})
_PROVIDER_SETS = {"all": frozenset(PROVIDERS), "aws": _AWS, **{p: frozenset({p}) for p in PROVIDERS}}
# The loop since issue 16 (no listing, no start marker): a poll knows it is current by GetSchedule of
# its own name and, once the next poll's schedule exists, retires its own (UpdateSchedule to DISABLED:
# the name stays taken until the clean-up); a segment knows it is a repeat by its unit's poll 1 and
# the record; the completing poll n deletes every name 1..n+1 by name (n + 1 deletes: modelled as one
# per running poll, made at the end, and two in the completing poll). One table: adjust it when core
# changes. Columns: the API; its calls in the segment, in each running poll, in the completing poll;
# the providers that make it (all, aws, or one); "rt" for a round trip, "end" for a round trip whose
# running-poll share the completing poll makes, "-" for none; the rest is a note.
CALLS_TABLE = """
scheduler:GetSchedule            1 1 1 all  rt  segment: poll 1's (a repeat? a miss when new); poll: its own (active?)
scheduler:CreateSchedule         1 1 0 all  rt  segment: poll 1; poll: the next
scheduler:UpdateSchedule         0 1 0 all  rt  poll: retires its own (DISABLED, the name kept until the clean-up)
scheduler:DeleteSchedule         0 1 2 all  end clean-up, names 1..n+1: each running poll's (retired), its own, n+1
scheduler:ListSchedules          0 0 0 all  rt  operators only (ops): never in the loop
scheduler:invocation             0 1 1 all  -   each poll is one delivery of a schedule
lambda:invocation                1 1 1 all  -   the segment function, then the poll function once per poll
s3:GetObject record              1 0 0 all  rt  segment: is there a record already (a miss)
s3:PutObject record              0 0 1 all  rt  completion: the record, written once (If-None-Match)
vendor submit                    1 0 0 http rt
vendor status                    0 1 1 http rt
vendor result                    0 0 1 http rt
s3:PutObject staging             1 0 0 aws  rt  the chunk staged for the service (not when it is already s3://)
transcribe:StartTranscriptionJob 1 0 0 transcribe rt
transcribe:GetTranscriptionJob   0 1 2 transcribe rt status, and again for the transcript's location
s3:GetObject transcript          0 0 1 transcribe rt
rekognition:StartTextDetection   1 0 0 rekognition-text rt
rekognition:GetTextDetection     0 1 1 rekognition-text rt status (MaxResults 1); completion adds the result's pages
"""


def parse_calls(text: str) -> tuple[Calls, ...]:
    """CALLS_TABLE's rows (an API's name may hold a space: "s3:GetObject record")."""
    found = []
    for line in text.strip().splitlines():
        words = line.split()
        cut = next(i for i, word in enumerate(words) if word.isdigit())
        segment, poll, completion, providers, trip = words[cut : cut + 5]
        if trip not in ("rt", "end", "-"):
            raise ValueError(f"CALLS_TABLE: {trip!r} is not rt, end or - ({line})")
        found.append(
            Calls(
                api=" ".join(words[:cut]),
                segment=float(segment),
                poll=float(poll),
                completion=float(completion),
                providers=_PROVIDER_SETS[providers],
                network=trip != "-",
                at_end=trip == "end",
                note=" ".join(words[cut + 5 :]),
            )
        )
    return tuple(found)


CALLS = parse_calls(CALLS_TABLE)
SIGNING_SECRET_READS = 1  # per container per CACHE_SECONDS: AWSCURRENT (signs, and verifies v2 payloads it signed)
SECRET_CACHE_S = 300  # pollbridge.adapters.signing_keys.CACHE_SECONDS and pollbridge.secrets.CACHE_SECONDS
CONTAINER_HEADROOM = 2.0  # warm containers per unit of mean concurrency (arrivals are not even): assumed
REKOGNITION_PAGES_PER_HOUR = 54  # BENCHMARKS.md section 4: 1 hour of a dense news ticker is 54 pages


def calls_for(provider: str) -> tuple[Calls, ...]:
    return tuple(c for c in CALLS if provider in c.providers)


# --- durations (BENCHMARKS.md) and the workload (the timing simulation) ----------------------------


@dataclass(frozen=True)
class Durations:
    """What an invocation takes: the measured local part plus each network call's round trip (not
    measurable here: no AWS account), plus what the invocation moves or converts."""

    poll_local_s: float = 0.015  # BENCHMARKS.md section 2: warm poll, median wall time (2026-12-03 20:25 UTC)
    segment_local_s: float = 0.359  # section 2: segment, first invocation (clients made; 2026-12-03 20:25 UTC)
    call_s: float = 0.025  # one AWS or vendor round trip in the Region: assumed
    media_transfer_s: float = 1.0  # the segment reads the chunk and uploads or stages it: assumed
    result_s: float = 0.2  # reading and converting a typical result (1.1-8.7 s at the maxima, section 4): assumed


@dataclass(frozen=True)
class Workload:
    """What the timing simulation says about one media mix on one vendor (means over its tasks)."""

    name: str
    polls: float  # polls per task
    turnaround_s: float  # submit to the poll that saw the job done: how long a task holds schedules
    job_s: float  # the vendor's job, submit to done (its queue included): how long it holds a job slot
    media_s: float
    tasks: int
    hints: Hints
    schedule_s: float  # schedule-seconds per task: each of its schedules, from its creation to the clean-up
    later_share: float = 1.0  # the share of tasks whose completing poll is not poll 1

    @property
    def schedules_held(self) -> float:
        """Schedules a running task holds, averaged over its time (retired ones kept until the clean-up)."""
        return self.schedule_s / self.turnaround_s if self.turnaround_s > 0 else 1.0


MIXES = ("main", "short-clips", "long-queues")


def schedule_seconds(start_ms: int, polls_ms: Sequence[int]) -> float:
    """Schedule-seconds one task holds: poll 1's schedule from the submit, poll k+1's from poll k, each
    until the completing (last) poll deletes them all. Between poll k-1 and poll k the task holds k."""
    if not polls_ms:
        return 0.0
    end, created = polls_ms[-1], [start_ms, *polls_ms[:-1]]
    return sum(end - at for at in created) / 1000


class _Recording(sim.Scheduler):
    """The simulation's scheduler for one task, noting when each poll it delivers runs."""

    def __init__(self, seed: int, task: int) -> None:
        super().__init__(seed, task)
        self.fired: list[int] = []

    def __call__(self, at_ms: int) -> int:
        fired = super().__call__(at_ms)
        self.fired.append(fired)
        return fired


def simulate(mix: str, hints: Hints, tasks: int = SIM_TASKS, seed: int = SIM_SEED) -> Workload:
    """Run pollbridge's policy (lag budget 60 s, its default) over `tasks` of the mix: the timing
    simulation's workloads (or, for a number, media of that mean duration, 0.5-1.5x it, processed
    as the main workload's are), on a vendor giving `hints`. As sim.run_policy runs it (the same
    draws: tests/unit/test_capacity.py compares them), noting when each poll runs."""
    min_rtf = sim.PROVIDER_MIN_RTF
    if mix == "main":
        made = sim.make_tasks(tasks, seed)
    elif mix == "short-clips":
        made = sim.make_short_clips(tasks, seed)
    elif mix == "long-queues":
        made, min_rtf = sim.make_long_queues(tasks), 0.05
    else:
        made = _mean_media_tasks(float(mix), tasks, seed)
    vendor = {"eta": sim.ETA_10, "progress": sim.progress_vendor(), "none": sim.NO_HINTS}[hints]
    policy = sim.pollbridge(60, min_rtf=min_rtf)
    polls, turnaround, held = [], [], []
    for task in made:
        scheduler = _Recording(seed, task.index)
        run = policy(task, scheduler, random.Random(seed * 1_000_003 + 7_919 + task.index), vendor)
        if len(scheduler.fired) != run.polls or run.hops:
            raise RuntimeError("the simulation's polls are not all scheduler deliveries: update simulate")
        polls.append(run.polls)
        turnaround.append((task.done_ms + run.lag_ms - task.start_ms) / 1000)
        held.append(schedule_seconds(task.start_ms, scheduler.fired))
    name = mix if mix in MIXES else f"mean media {float(mix):,.0f} s"
    return Workload(
        name=name,
        polls=statistics.fmean(polls),
        turnaround_s=statistics.fmean(turnaround),
        job_s=statistics.fmean((t.done_ms - t.start_ms) / 1000 for t in made),
        media_s=statistics.fmean(t.media_ms / 1000 for t in made),
        tasks=tasks,
        hints=hints,
        schedule_s=statistics.fmean(held),
        later_share=sum(n > 1 for n in polls) / len(polls),
    )


def _mean_media_tasks(mean_s: float, count: int, seed: int) -> list[sim.Task]:
    if not mean_s > 0:
        raise ValueError("a mean media duration is a positive number of seconds")
    rnd = random.Random(seed + 31)
    made = []
    for index in range(count):
        media_s = rnd.uniform(0.5, 1.5) * mean_s
        processing_s, queue_s = rnd.uniform(0.1, 0.6) * media_s, rnd.uniform(0, 120)
        start = sim.START_MS + int(rnd.uniform(0, 3600) * 1000)
        done, queued_until = start + int((queue_s + processing_s) * 1000), start + int(queue_s * 1000)
        made.append(
            sim.Task(index, f"mean-{index:06d}", start, int(media_s * 1000), done, queued_until, rnd.uniform(0.9, 1.1))
        )
    return made


# --- quotas and their sources ----------------------------------------------------------------------

type Scope = Literal["account-region", "stack", "vendor"]


@dataclass(frozen=True)
class Source:
    title: str
    url: str
    confirmed: bool
    note: str = ""


SOURCES: dict[str, Source] = {
    "scheduler": Source(
        "Quotas for Amazon EventBridge Scheduler",
        "https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html",
        True,
        "current page: schedules 10,000,000 per Region; CreateSchedule 5,000/s and invocations 1,000/s in the"
        " primary Regions (us-east-1, us-east-2, us-west-2, ap-northeast-1, ap-south-1, ap-southeast-1,"
        " ap-southeast-2, eu-central-1, eu-west-1, eu-west-2, sa-east-1); 250/s elsewhere. Earlier revisions"
        " said CreateSchedule 1,000/s",
    ),
    "scheduler-2024": Source(
        "Amazon EventBridge Scheduler: higher default quotas (What's New, 2024-08-21)",
        "https://aws.amazon.com/cn/about-aws/whats-new/2024/08/amazon-eventbridge-scheduler-higher-quotas/",
        True,
        "CreateSchedule, DeleteSchedule, GetSchedule and UpdateSchedule 1,000/s in most Regions (from 50);"
        " the quotas page's revision of then lists DeleteSchedule and GetSchedule at 1,000/s in the primary"
        " Regions, 250/s elsewhere (its UpdateSchedule row was not read: the announcement's 1,000/s is used)."
        " Whether the current revision raised them with CreateSchedule: not read",
    ),
    "scheduler-old": Source(
        "Quotas for Amazon EventBridge Scheduler, a revision from before 2024-08",
        "https://docs.aws.amazon.com/zh_tw/scheduler/latest/UserGuide/scheduler-quotas.html",
        False,
        "ListSchedules 50/s there (when every API was 50/s); the current figure was not read",
    ),
    "lambda": Source(
        "Lambda quotas",
        "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
        True,
        "concurrent executions 1,000 per Region (adjustable to tens of thousands; new accounts start lower)",
    ),
    "lambda-scaling": Source(
        "Lambda scaling behavior",
        "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html",
        True,
        "each function gains at most 1,000 execution environments every 10 s",
    ),
    "s3": Source(
        "Optimizing Amazon S3 performance; re:Post knowledge center, HTTP 5xx errors from S3",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html",
        True,
        "at least 3,500 PUT/COPY/POST/DELETE or 5,500 GET/HEAD requests per second per partitioned prefix"
        " (https://repost.aws/knowledge-center/http-5xx-errors-s3); S3 partitions a busy prefix by itself"
        " over 30-60 minutes, answering 503 Slow Down meanwhile",
    ),
    "secrets": Source(
        "AWS Secrets Manager quotas; What's New 2025-03-04",
        "https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html",
        True,
        "GetSecretValue 10,000/s (https://aws.amazon.com/cn/about-aws/whats-new/2025/03/"
        "aws-secrets-manager-increases-api-requests-seconds/)",
    ),
    "ssm": Source(
        "AWS Systems Manager endpoints and quotas",
        "https://docs.aws.amazon.com/general/latest/gr/ssm.html",
        False,
        "40/s shared by GetParameter, GetParameters and GetParametersByPath (3,000/s with higher"
        " throughput): read in a third party's quotation of that page, not on the page",
    ),
    "transcribe": Source(
        "Amazon Transcribe guidelines and quotas",
        "https://docs.aws.amazon.com/transcribe/latest/dg/limits-guidelines.html",
        True,
        "concurrent batch jobs 250, StartTranscriptionJob 25/s, GetTranscriptionJob 30/s, job queue bandwidth"
        " ratio 0.9 (an older revision: 100, 10/s, 20/s). The quotas now live in the General Reference"
        " (https://docs.aws.amazon.com/general/latest/gr/transcribe.html), whose table was not read: check"
        " the Service Quotas console of the Region",
    ),
    "transcribe-queue": Source(
        "Amazon Transcribe job queueing",
        "https://docs.aws.amazon.com/transcribe/latest/dg/job-queueing.html",
        True,
        "AllowDeferredExecution: up to 10,000 jobs wait in a FIFO queue, served with at most 90% of the"
        " concurrent-job quota",
    ),
    "rekognition": Source(
        "Amazon Rekognition endpoints and quotas",
        "https://docs.aws.amazon.com/general/latest/gr/rekognition.html",
        True,
        "concurrent stored video jobs 20 per account; stored-video Start operations 5/s each in every Region;"
        " Get operations 20/s in us-east-1, us-west-2, eu-west-1 (5/s elsewhere)",
    ),
    "vendor": Source(
        "../shared/reference/aws-notes.md (a typical third-party speech API: Speechmatics' batch API)",
        "",
        False,
        "an example, not pollbridge's vendor: at most 10 new jobs/s and 50 status requests/s",
    ),
}


@dataclass(frozen=True)
class Quota:
    key: str
    name: str
    limit: float
    unit: Literal["/s", "held"]
    scope: Scope
    source: str
    apis: tuple[str, ...] = ()  # its per-task amount: these APIs' calls per task...
    holds: str = ""  # ...or what a running task holds (Little's law): see demand_per_task
    providers: frozenset[str] = frozenset(PROVIDERS)
    adjustable: str = "yes"
    raised: bool = False  # --quota: not the default


def _rate(key: str, name: str, limit: float, source: str, *apis: str, scope: Scope = "account-region",
          only: str = "all", up: str = "yes") -> Quota:  # fmt: skip
    """A quota on requests per second, spent by these APIs' calls."""
    return Quota(key, name, limit, "/s", scope, source, apis, "", _PROVIDER_SETS[only], up)


def _held(key: str, name: str, limit: float, source: str, holds: str, scope: Scope = "account-region",
          only: str = "all", up: str = "yes", unit: Literal["/s", "held"] = "held") -> Quota:  # fmt: skip
    """A quota on what is held at once, by each running task for as long as demand_per_task says (or,
    unit "/s", on a rate that follows from what is held: reads per warm container)."""
    return Quota(key, name, limit, unit, scope, source, (), holds, _PROVIDER_SETS[only], up)


_TENS_K, _THOUSANDS, _PARTITIONS, _VENDORS = "yes, to tens of thousands", "yes, to thousands/s", "S3 partitions", "-"
QUOTAS: tuple[Quota, ...] = (
    _rate("scheduler-create", "Scheduler CreateSchedule", 5_000, "scheduler", "scheduler:CreateSchedule", up=_TENS_K),
    _rate("scheduler-get", "Scheduler GetSchedule", 1_000, "scheduler-2024", "scheduler:GetSchedule", up=_THOUSANDS),
    _rate("scheduler-delete", "Scheduler DeleteSchedule", 1_000, "scheduler-2024", "scheduler:DeleteSchedule",
          up=_THOUSANDS),
    _rate("scheduler-update", "Scheduler UpdateSchedule", 1_000, "scheduler-2024", "scheduler:UpdateSchedule",
          up=_THOUSANDS),
    _rate("scheduler-list", "Scheduler ListSchedules", 50, "scheduler-old", "scheduler:ListSchedules"),
    _rate("scheduler-invocations", "Scheduler target invocations", 1_000, "scheduler", "scheduler:invocation",
          up=_TENS_K + " (past it, deliveries wait)"),
    _held("scheduler-schedules", "Scheduler schedules (live)", 10_000_000, "scheduler", "schedules",
          up="yes, to billions"),
    _held("lambda-concurrency", "Lambda concurrent executions", 1_000, "lambda", "lambda", up=_TENS_K),
    _rate("s3-results-put", "S3 PUT, results bucket, one prefix", 3_500, "s3", "s3:PutObject record", scope="stack",
          up=_PARTITIONS),
    _rate("s3-results-get", "S3 GET, results bucket, one prefix", 5_500, "s3", "s3:GetObject record", scope="stack",
          up=_PARTITIONS),
    _rate("s3-staging-put", "S3 PUT, staging bucket, one prefix", 3_500, "s3", "s3:PutObject staging", scope="stack",
          only="aws", up=_PARTITIONS),
    _rate("s3-staging-get", "S3 GET, staging bucket, one prefix", 5_500, "s3", "s3:GetObject transcript",
          scope="stack", only="transcribe", up=_PARTITIONS),
    _held("secrets-get", "Secrets Manager GetSecretValue", 10_000, "secrets", "secrets", up="no", unit="/s"),
    _held("ssm-get", "SSM GetParameter (API key parameter)", 40, "ssm", "parameters", only="http",
          up="yes: higher throughput, 3,000/s", unit="/s"),
    _held("transcribe-jobs", "Transcribe concurrent batch jobs", 250, "transcribe", "job", only="transcribe"),
    _rate("transcribe-start", "Transcribe StartTranscriptionJob", 25, "transcribe", "transcribe:StartTranscriptionJob",
          only="transcribe"),
    _rate("transcribe-get", "Transcribe GetTranscriptionJob", 30, "transcribe", "transcribe:GetTranscriptionJob",
          only="transcribe"),
    _held("rekognition-jobs", "Rekognition concurrent stored video jobs", 20, "rekognition", "job",
          only="rekognition-text"),
    _rate("rekognition-start", "Rekognition StartTextDetection", 5, "rekognition", "rekognition:StartTextDetection",
          only="rekognition-text"),
    _rate("rekognition-get", "Rekognition GetTextDetection", 20, "rekognition", "rekognition:GetTextDetection",
          only="rekognition-text"),
    _held("vendor-jobs", "vendor jobs in flight", math.inf, "vendor", "job", scope="vendor", only="http", up=_VENDORS),
    _rate("vendor-submit", "vendor submits (example limit)", 10, "vendor", "vendor submit", scope="vendor",
          only="http", up=_VENDORS),
    _rate("vendor-status", "vendor status requests (example limit)", 50, "vendor", "vendor status", scope="vendor",
          only="http", up=_VENDORS),
)  # fmt: skip
QUOTA_KEYS = tuple(q.key for q in QUOTAS)
# What the table cannot say, printed under the plan: (source, text, providers).
NOTES: tuple[tuple[str, str, frozenset[str]], ...] = (
    (
        "lambda-scaling",
        "A burst is bounded by how fast Lambda adds execution environments (1,000 per function every 10 s), not"
        " by the concurrency quota alone; Scheduler spreads each minute's polls over the minute.",
        frozenset(PROVIDERS),
    ),
    (
        "transcribe-queue",
        "Job queueing (StartTranscriptionJob with AllowDeferredExecution) lets Transcribe hold up to 10,000 jobs"
        " past the concurrent-job quota, served with 90% of it: it absorbs bursts, not a sustained rate above"
        " 0.9 x the quota / the job time. pollbridge does not set it: a refused submit waits in the scheduler"
        " instead (issue 16 item 1), each retry a poll's calls.",
        frozenset({"transcribe"}),
    ),
)


# --- the model -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    provider: Provider
    workload: Workload
    durations: Durations = field(default_factory=Durations)
    api_key: Literal["none", "secret", "parameter"] = "none"  # the http vendor's key (PROVIDER_API_KEY_*)
    pages_per_hour: float = REKOGNITION_PAGES_PER_HOUR


def per_task_calls(inputs: Inputs) -> dict[str, float]:
    """Every API's calls for one task (Rekognition's result pages added to GetTextDetection)."""
    w = inputs.workload
    counts = {c.api: c.per_task(w.polls) for c in calls_for(inputs.provider)}
    if "rekognition:GetTextDetection" in counts:
        counts["rekognition:GetTextDetection"] += rekognition_pages(inputs)
    return counts


def rekognition_pages(inputs: Inputs) -> float:
    return max(1.0, inputs.workload.media_s / 3600 * inputs.pages_per_hour)


def invocation_seconds(inputs: Inputs) -> dict[str, float]:
    """Each kind of invocation's mean duration: its local part, its network calls' round trips, and
    what it moves (the segment) or converts (the completing poll). The calls made `at_end` are the
    completing poll's: one per earlier poll (the clean-up's deletes)."""
    d, rounds = inputs.durations, calls_for(inputs.provider)
    pages = rekognition_pages(inputs) if inputs.provider == "rekognition-text" else 0.0
    earlier = max(inputs.workload.polls - 1.0, 0.0)

    def trips(part: Callable[[Calls], float]) -> float:
        return sum(part(c) for c in rounds if c.network)

    return {
        "segment": d.segment_local_s + trips(lambda c: c.segment) * d.call_s + d.media_transfer_s,
        "poll": d.poll_local_s + trips(lambda c: 0.0 if c.at_end else c.poll) * d.call_s,
        "completion": d.poll_local_s
        + (trips(lambda c: c.completion + (earlier * c.poll if c.at_end else 0.0)) + pages) * d.call_s
        + d.result_s,
    }


def lambda_seconds_per_task(inputs: Inputs) -> float:
    """Execution time one task takes, summed over its invocations: by Little's law, concurrency =
    arrivals/s x this."""
    seconds = invocation_seconds(inputs)
    polls = inputs.workload.polls
    return seconds["segment"] + max(polls - 1.0, 0.0) * seconds["poll"] + seconds["completion"]


def demand_per_task(quota: Quota, inputs: Inputs) -> float:
    """What one task a second costs against the quota: calls per task for a rate (requests/s per
    task/s), or, for what is held, the seconds a task holds it (held = arrivals/s x this)."""
    if quota.apis:
        calls = per_task_calls(inputs)
        return sum(calls.get(api, 0.0) for api in quota.apis)
    w = inputs.workload
    match quota.holds:
        case "schedules":  # every poll's schedule, from its creation to the clean-up (the simulation's)
            return w.schedule_s
        case "lambda":
            return lambda_seconds_per_task(inputs)
        case "job":
            return w.job_s
        case "secrets":  # each warm container reads each secret once per cache period
            reads = SIGNING_SECRET_READS + float(inputs.api_key == "secret")
            return CONTAINER_HEADROOM * lambda_seconds_per_task(inputs) * reads / SECRET_CACHE_S
        case "parameters":
            reads = float(inputs.api_key == "parameter")
            return CONTAINER_HEADROOM * lambda_seconds_per_task(inputs) * reads / SECRET_CACHE_S
    raise ValueError(f"quota {quota.key} says neither which calls nor what a task holds")


@dataclass(frozen=True)
class Row:
    """One quota at a load: `tasks_per_day` in all, split `share` ways at the quota's scope (one
    account-Region of several, one stack of several)."""

    quota: Quota
    per_task: float  # demand per task/s (see demand_per_task)
    tasks_per_day: float
    share: int = 1

    @property
    def demand(self) -> float:
        """Requests/s, or what is held at once, in one account-Region (or stack) at this load."""
        return self.tasks_per_day / self.share / DAY_S * self.per_task

    @property
    def utilisation(self) -> float:
        """The share of the quota used (math.inf for a limit nobody sets)."""
        return self.demand / self.quota.limit if self.quota.limit else math.inf

    @property
    def binds_at(self) -> float:
        """Tasks a day, in all, at which the demand reaches the quota; math.inf: never."""
        if self.per_task <= 0 or math.isinf(self.quota.limit):
            return math.inf
        return self.share * DAY_S * self.quota.limit / self.per_task


def rows(inputs: Inputs, tasks_per_day: float, quotas: Sequence[Quota] = QUOTAS) -> list[Row]:
    return [
        Row(q, demand_per_task(q, inputs), tasks_per_day)
        for q in quotas
        if inputs.provider in q.providers and (q.key != "ssm-get" or inputs.api_key == "parameter")
    ]


def _point(row: Row) -> float:
    """A binding point to 12 figures: quotas reached at the same load tie (in QUOTAS' order), whatever
    the floating point of their per-task sums."""
    return float(f"{row.binds_at:.12g}")


def binding(found: Sequence[Row], scopes: Sequence[Scope] = ("account-region", "stack")) -> Row | None:
    """The first quota to bind: the least tasks/day = quota / demand per task over the rows (of a
    tie, the first in QUOTAS' order: tied() names the others)."""
    eligible = [r for r in found if r.quota.scope in scopes and not math.isinf(r.binds_at)]
    return min(eligible, key=_point, default=None)


def tied(found: Sequence[Row], first: Row) -> list[Row]:
    """Every row of `first`'s scope kind that binds at the same load as `first`, `first` included."""
    vendor = first.quota.scope == "vendor"
    return [r for r in found if (r.quota.scope == "vendor") == vendor and _point(r) == _point(first)]


def with_quotas(overrides: dict[str, float], quotas: Sequence[Quota] = QUOTAS) -> tuple[Quota, ...]:
    unknown = set(overrides) - {q.key for q in quotas}
    if unknown:
        raise ValueError(f"unknown quota {sorted(unknown)}; known: {', '.join(q.key for q in quotas)}")
    return tuple(replace(q, limit=overrides[q.key], raised=True) if q.key in overrides else q for q in quotas)


# --- the plan past one account and Region ----------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    accounts: int = 1
    regions: int = 1
    stacks: int = 1  # in all: at least one per account and Region

    @property
    def account_regions(self) -> int:
        return self.accounts * self.regions

    def share(self, scope: Scope) -> int:
        """How many ways the load splits for a quota of this scope (tasks sharded evenly)."""
        return {"account-region": self.account_regions, "stack": self.stacks, "vendor": 1}[scope]


def layout_rows(inputs: Inputs, tasks_per_day: float, layout: Layout, quotas: Sequence[Quota] = QUOTAS) -> list[Row]:
    """Each quota at its own scope's share of the load: one account and Region, one stack."""
    return [replace(r, share=layout.share(r.quota.scope)) for r in rows(inputs, tasks_per_day, quotas)]


def account_regions_needed(found: Sequence[Row], target: float) -> int:
    """How many account-Regions at these quotas keep every account-level quota at most `target` full."""
    worst = max((r.utilisation for r in found if r.quota.scope == "account-region"), default=0.0)
    return max(1, math.ceil(worst / target - 1e-9))


def increases_needed(found: Sequence[Row], target: float) -> list[tuple[Row, float]]:
    """The quotas one account and Region would need raised to carry the load at `target`, and to what."""
    return [(r, r.demand / target) for r in found if r.quota.scope == "account-region" and r.utilisation > target]


# --- output ----------------------------------------------------------------------------------------


def _n(value: float) -> str:
    """Three significant figures, thousands separated (a million tasks: 1,000,000; 13,578,501: 13,600,000)."""
    if math.isinf(value):
        return "never"
    if value == 0:
        return "0"
    rounded = float(f"{value:.3g}")
    if abs(rounded) >= 100:
        return f"{rounded:,.0f}"
    return f"{rounded:,.{max(0, 2 - math.floor(math.log10(abs(rounded))))}f}".rstrip("0").rstrip(".")


def _pct(value: float) -> str:
    if math.isinf(value) or math.isnan(value):
        return "-"
    return f"{value * 100:.2g}%" if value < 0.1 else f"{value * 100:.0f}%"


def table(found: Sequence[Row]) -> str:
    numbers = {key: n for n, key in enumerate(dict.fromkeys(r.quota.source for r in found), start=1)}
    lines = [
        "| quota | scope | at this load | quota (default) | used | binds at (tasks/day) | adjustable | source |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in sorted(found, key=lambda r: (r.quota.scope == "vendor", _point(r), QUOTA_KEYS.index(r.quota.key))):
        q, source = r.quota, SOURCES[r.quota.source]
        unit = "/s" if q.unit == "/s" else ""
        limit = "-" if math.isinf(q.limit) else f"{_n(q.limit)}{unit}" + ("" if source.confirmed else " (unconfirmed)")
        limit += " (raised)" if q.raised else ""
        used = "-" if math.isinf(q.limit) else _pct(r.utilisation)
        lines.append(
            f"| {q.name} | {q.scope} | {_n(r.demand)}{unit} | {limit} | {used} | {_n(r.binds_at)}"
            f" | {q.adjustable} | [{numbers[q.source]}] |"
        )
    lines.append("")
    for key, number in numbers.items():
        s = SOURCES[key]
        where = f" <{s.url}>" if s.url else ""
        mark = "" if s.confirmed else " **Unconfirmed.**"
        lines.append(f"[{number}] {s.title}{where}: {s.note}.{mark}")
    return "\n".join(lines)


def calls_table(inputs: Inputs) -> str:
    lines = [
        "| call | segment | each running poll | completing poll | per task | note |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    per_task = per_task_calls(inputs)
    for c in calls_for(inputs.provider):
        poll = f"{c.poll:g}" + (" (made at the end)" if c.at_end and c.poll else "")
        completion = f"{c.completion:g}"
        if c.api == "rekognition:GetTextDetection":
            completion += f" + {rekognition_pages(inputs):.1f} pages"
        lines.append(f"| {c.api} | {c.segment:g} | {poll} | {completion} | {per_task[c.api]:.2f} | {c.note} |")
    return "\n".join(lines)


def report(
    inputs: Inputs,
    tasks_per_day: float,
    quotas: Sequence[Quota] = QUOTAS,
    layout: Layout | None = None,
    target: float = 0.8,
    stamp: str = "",
) -> str:
    w, seconds = inputs.workload, invocation_seconds(inputs)
    found = rows(inputs, tasks_per_day, quotas)
    first, vendor = binding(found), binding(found, ("vendor",))
    out = [
        f"### {_n(tasks_per_day)} tasks a day, provider `{inputs.provider}`, media mix `{w.name}`",
        "",
        (f"Computed {stamp}. " if stamp else "")
        + f"Arrivals {tasks_per_day / DAY_S:,.2f} tasks/s. The timing simulation ({w.tasks:,} tasks, seed {SIM_SEED},"
        f" pollbridge at its defaults, a vendor giving {HINTS_TEXT[w.hints]}):"
        f" {w.polls:.2f} polls per task ({w.later_share:.0%} take more than one), a task runs"
        f" {w.turnaround_s:,.0f} s (submit to the poll that sees it done) holding {w.schedules_held:.2f}"
        " schedules on average (each poll's, retired ones kept until the clean-up),"
        f" the vendor's job {w.job_s:,.0f} s, media {w.media_s:,.0f} s on average. Invocations: segment"
        f" {seconds['segment'] * 1000:,.0f} ms, running poll {seconds['poll'] * 1000:,.0f} ms, completing poll"
        f" {seconds['completion'] * 1000:,.0f} ms ({lambda_seconds_per_task(inputs):.2f} s of Lambda per task).",
        "",
        "Calls per task:",
        "",
        calls_table(inputs),
        "",
        "One account, one Region, one stack:",
        "",
        table(found),
        "",
    ]
    if first is not None:
        together = tied(found, first)
        named = " and ".join(
            f"{r.quota.name} ({_n(r.quota.limit)}{'/s' if r.quota.unit == '/s' else ''})" for r in together
        ) + (", tied," if len(together) > 1 else "")
        out.append(
            f"**First quota to bind: {named} at {_n(first.binds_at)} tasks/day**"
            f" ({_pct(first.utilisation)} used at this load)."
        )
    if vendor is not None:
        out.append(
            f"The vendor's own limits are the vendor's: with the example limits above, {vendor.quota.name}"
            f" binds at {_n(vendor.binds_at)} tasks/day."
        )
    out += ["", *plan(inputs, tasks_per_day, quotas, layout, target)]
    notes = [(SOURCES[key], text) for key, text, providers in NOTES if inputs.provider in providers]
    if notes:
        out += ["", "Notes:", ""]
        out += [f"- {text} ({source.title}, <{source.url}>)" for source, text in notes]
    return "\n".join(out)


def plan(
    inputs: Inputs, tasks_per_day: float, quotas: Sequence[Quota], layout: Layout | None, target: float
) -> list[str]:
    found = rows(inputs, tasks_per_day, quotas)
    needed = account_regions_needed(found, target)
    out = [f"#### Past one account and Region (every account-level quota at most {target:.0%} full)", ""]
    raise_these = increases_needed(found, target)
    if not raise_these:
        worst = max((r for r in found if r.quota.scope == "account-region"), key=lambda r: r.utilisation)
        out.append(
            f"One account and Region carries this load at these quotas (the fullest: {worst.quota.name},"
            f" {_pct(worst.utilisation)})."
        )
    else:
        out.append("One account and Region carries it with these increases requested:")
        out.append("")
        for r, value in raise_these:
            unit = "/s" if r.quota.unit == "/s" else ""
            out.append(
                f"- {r.quota.name}: from {_n(r.quota.limit)}{unit} to at least {_n(value)}{unit}"
                f" (adjustable: {r.quota.adjustable}; `--quota {r.quota.key}=...` checks it)"
            )
        out.append("")
        out.append(
            f"Or, at these quotas, {needed} account-Regions (accounts, Regions or both; a stack in each, tasks"
            " sharded by a stable hash of taskId):"
        )
    chosen = layout if layout is not None else (Layout(accounts=needed, stacks=needed) if needed > 1 else None)
    if chosen is not None:
        per = layout_rows(inputs, tasks_per_day, chosen, quotas)
        fullest = max((r for r in per if r.quota.scope != "vendor"), key=lambda r: r.utilisation)
        verdict = (
            "**does not fit**"
            if fullest.utilisation > 1
            else "fits"
            if fullest.utilisation <= target
            else f"fits, above the {target:.0%} target"
        )
        out += [
            "",
            f"Layout: {chosen.accounts} account(s) x {chosen.regions} Region(s), {chosen.stacks} stack(s): each"
            f" account-Region takes {_n(tasks_per_day / chosen.account_regions)} tasks/day, each stack"
            f" {_n(tasks_per_day / chosen.stacks)}; the fullest quota is {fullest.quota.name} at"
            f" {_pct(fullest.utilisation)}: {verdict}. Per account-Region (per stack for the stack's own),"
            " binding points for the whole layout:",
            "",
            table(per),
        ]
    return out


def parse_quota(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--quota takes KEY=VALUE (keys: {', '.join(QUOTA_KEYS)})")
    if key not in QUOTA_KEYS:
        raise argparse.ArgumentTypeError(f"unknown quota {key!r} (keys: {', '.join(QUOTA_KEYS)})")
    try:
        return key, parse_count(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"--quota {key}: {value!r} is not a positive number") from None


def parse_mix(text: str) -> str:
    if text in MIXES:
        return text
    try:
        if float(text) > 0:
            return text
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"--media-mix is one of {', '.join(MIXES)} or a mean media duration in seconds")


def parse_count(text: str) -> float:
    try:
        value = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("a positive number")
    return value


def parse_whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def parse_share(text: str) -> float:
    value = parse_count(text)
    if value > 1:
        raise argparse.ArgumentTypeError("a share of a quota: more than 0, at most 1")
    return value


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.capacity", description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--tasks-per-day", type=parse_count, default=float(DEFAULT_TASKS_PER_DAY), help="the load (1,000,000)")
    add("--media-mix", type=parse_mix, default="main", help=f"{', '.join(MIXES)}, or a mean media duration in s")
    add("--provider", choices=PROVIDERS, default="http")
    add("--hints", choices=("eta", "progress", "none"), help="what the vendor tells a poll (default: the provider's)")
    add("--api-key", choices=("none", "secret", "parameter"), default="none", help="where http's vendor key is kept")
    add("--call-ms", type=float, default=Durations.call_s * 1000, help="one AWS or vendor round trip (assumed 25)")
    add("--transfer-ms", type=float, default=Durations.media_transfer_s * 1000, help="a segment's media (1000)")
    add("--result-ms", type=float, default=Durations.result_s * 1000, help="reading a result (200)")
    add("--pages-per-hour", type=float, default=REKOGNITION_PAGES_PER_HOUR, help="Rekognition result pages (54)")
    add("--accounts", type=parse_whole, help="check a layout: accounts (with --regions, --stacks)")
    add("--regions", type=parse_whole, default=1, help="Regions per account")
    add("--stacks", type=parse_whole, help="stacks in all (default: one per account and Region)")
    add("--target", type=parse_share, default=0.8, help="the most of a quota the plan may use (0.8)")
    add("--quota", type=parse_quota, action="append", default=[], help=f"KEY=VALUE: {', '.join(QUOTA_KEYS)}")
    add("--sim-tasks", type=parse_whole, default=SIM_TASKS, help=f"simulated tasks ({SIM_TASKS:,})")
    args = parser.parse_args(argv)

    provider: Provider = args.provider
    hints: Hints = args.hints or PROVIDER_HINTS[provider]
    durations = Durations(
        call_s=args.call_ms / 1000, media_transfer_s=args.transfer_ms / 1000, result_s=args.result_ms / 1000
    )
    inputs = Inputs(
        provider, simulate(args.media_mix, hints, args.sim_tasks), durations, args.api_key, args.pages_per_hour
    )
    layout = None
    if args.accounts is not None or args.regions != 1 or args.stacks is not None:
        accounts = args.accounts or 1
        stacks = args.stacks or accounts * args.regions
        if stacks < accounts * args.regions:
            parser.error("--stacks counts every stack: at least one per account and Region")
        layout = Layout(accounts, args.regions, stacks)
    print(report(inputs, args.tasks_per_day, with_quotas(dict(args.quota)), layout, args.target, stamp=machine()))


if __name__ == "__main__":  # pragma: no cover
    main()
