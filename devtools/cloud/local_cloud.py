"""The project's development cloud: moto on loopback, the stack from template.yaml, the vendor
simulator, the real handlers, and the scheduler emulator that fires what they schedule.

Everything shares one clock, installed as pollbridge's clock, so the cloud can run compressed.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import sys
import threading
import urllib.request
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import boto3
from moto.server import ThreadedMotoServer

from devtools.cloud import moto_speedups
from devtools.cloud.clocks import CompressedClock, ManualClock
from devtools.cloud.lambda_host import Invocation, LocalFunction
from devtools.cloud.moto_process import MotoProcess
from devtools.cloud.scheduler_emulator import SchedulerEmulator
from devtools.cloud.template_stack import REGION, StackPlan
from devtools.standins.transcribe_completer import TranscribeCompleter
from devtools.standins.vendor_simulator import SimConfig, VendorSimulator
from pollbridge import clock as shared_clock

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

# The payload-signing key of every local run (events/env.json and events/poll.json use it too). Not a
# secret: deployed stacks sign with a generated Secrets Manager value instead.
LOCAL_SIGNING_KEY = "pollbridge-local-development-signing-key"

# The webhook's bearer token in every local run: the local cloud plays the deployer and stores it as
# the SSM SecureString the template's WebhookTokenParameterName names (events/env.json gives it as
# WEBHOOK_TOKEN to devtools.invoke). Not a secret either.
LOCAL_WEBHOOK_TOKEN = "pollbridge-local-webhook-token"  # noqa: S105 - development value, not a secret
LOCAL_WEBHOOK_TOKEN_PARAMETER = "/pollbridge-local/webhook-token"  # noqa: S105 - a parameter name

# What a developer's machine adds to the template's environment: fake credentials, the endpoint
# of the local AWS, no X-Ray daemon, the local signing key, media from loopback (the simulator and
# test servers).
LOCAL_ENVIRONMENT = {
    "PAYLOAD_SIGNING_KEY": LOCAL_SIGNING_KEY,
    "ALLOW_PRIVATE_MEDIA_HOSTS": "true",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
}


# Where the local cloud's AWS (moto) runs:
# - "thread": a server on loopback, in a thread of this process (tests, `make localcloud`: other
#   processes such as devtools.invoke, devtools.ops and the cold-start benchmark can call it);
# - "process": the same server in a process of its own;
# - "in-process": no server at all: moto answers boto3 inside this process (`mock_aws`), which saves
#   the HTTP round trip of every AWS call, two thirds of its cost (`make load`, the demo, the
#   scaling benchmark); only this process can reach it.
type MotoMode = Literal["thread", "process", "in-process"]


def start_moto(port: int = 0, own_process: bool = False) -> tuple[ThreadedMotoServer | MotoProcess, str]:
    """moto in server mode on loopback, in a thread or in a process of its own. Its state is per
    process, so start from a clean slate."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server: ThreadedMotoServer | MotoProcess
    if own_process:
        server = MotoProcess(port)
    else:
        moto_speedups.install()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
    host, bound = server.get_host_and_port()
    endpoint = f"http://{host}:{bound}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()  # noqa: S310
    return server, endpoint


@dataclass
class LocalCloud:
    """Start with `with LocalCloud(...) as cloud:`; everything binds 127.0.0.1 on OS-chosen ports."""

    speed: float = 600.0
    sim_config: SimConfig = field(default_factory=SimConfig)
    duplicate_rate: float = 0.0
    late_duplicate_rate: float = 0.0  # share of polls handed to Lambda again 1-20 minutes later
    handoff_throttle_rate: float = 0.0  # share of hand-offs Lambda refuses (the scheduler retries them)
    emulator_seed: int = 11
    manual_clock: bool = False
    stack_name: str = "pollbridge-local"
    template: Path = TEMPLATE
    aws_port: int = 0  # 0: the OS picks (tests always); `make localcloud` fixes them for humans
    vendor_port: int = 0
    parameters: dict[str, str] = field(default_factory=dict)  # template parameter overrides
    moto: MotoMode = "thread"  # where AWS (moto) runs; see MotoMode

    def __post_init__(self) -> None:
        if self.parameters.get("PrecisePolling") == "true":
            # Not emulated yet: moto's SQS delays run on the wall clock, not the cloud's compressed one,
            # and nothing would play the event source mapping (every poll would wait for its fallback).
            raise ValueError("the local cloud does not emulate PrecisePolling's delay queue (issue 17, item 3)")
        self.clock: CompressedClock | ManualClock = ManualClock() if self.manual_clock else CompressedClock(self.speed)
        self._saved_env: dict[str, str | None] = {}
        # One warm container: invocations (scheduled, direct or through the Lambda endpoint) run
        # one at a time, so logs and correlation ids never interleave.
        self.invoke_lock = threading.RLock()

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> LocalCloud:
        self._previous_clock = shared_clock.install(self.clock)
        self._start_aws()
        try:
            self.simulator = VendorSimulator(self.sim_config, port=self.vendor_port).start()
            self.plan = StackPlan.from_template(
                self.template,
                self.stack_name,
                **{
                    "ProviderUrl": self.simulator.url,
                    "ProviderExtraOptions": "simulate",
                    "WebhookTokenParameterName": LOCAL_WEBHOOK_TOKEN_PARAMETER,
                    **self.parameters,
                },
            )
            if self.endpoint is not None:
                self.plan.queue_url_base = self.endpoint
            self._set_env({**LOCAL_ENVIRONMENT, **self._endpoint_environment()})
            self.clients = {
                name: boto3.client(name, endpoint_url=self.endpoint)
                for name in ("s3", "scheduler", "sqs", "secretsmanager", "ssm", "events")
            }
            self._create_resources()
            # moto's Transcribe writes no transcript: locally, a finished job gets a realistic one.
            self.completer = TranscribeCompleter(self.clients["s3"]) if self.provider == "transcribe" else None
            if self.completer is not None:
                self.completer.__enter__()
            self.specs = self.plan.functions()
            # The template's environment, then the local endpoint (as an env-vars file would set it).
            self._set_env({**self._function_environment(), **self._endpoint_environment()})
            self.functions = {lid: LocalFunction(spec, self.clock) for lid, spec in self.specs.items()}
            self.emulator = SchedulerEmulator(
                self.clients["scheduler"],
                self.clients["sqs"],
                self.schedule_group,
                {fn.spec.arn: fn for fn in self.functions.values()},
                self.clock,
                duplicate_rate=self.duplicate_rate,
                seed=self.emulator_seed,
                lock=self.invoke_lock,
                late_duplicate_rate=self.late_duplicate_rate,
                throttle_rate=self.handoff_throttle_rate,
                async_configs={fn.spec.arn: fn.spec.event_invoke for fn in self.functions.values()},
            )
            self._watch_schedule_calls()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        emulator = getattr(self, "emulator", None)
        if emulator is not None:
            emulator.stop()
        for event_name, unique_id in getattr(self, "_watching", []):
            self._session_events.unregister(event_name, unique_id=unique_id)
        simulator = getattr(self, "simulator", None)
        if simulator is not None:
            simulator.stop()
        completer = getattr(self, "completer", None)
        if completer is not None:
            completer.__exit__(None, None, None)
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server = getattr(self, "server", None)
        if server is not None:
            server.stop()
        in_process = getattr(self, "_in_process", None)
        if in_process is not None:
            in_process.stop()  # after the environment above: moto restores what it changed itself
        shared_clock.install(self._previous_clock)
        _forget_cached_wiring()

    def _start_aws(self) -> None:
        self.server: ThreadedMotoServer | MotoProcess | None = None
        self.endpoint: str | None = None  # None: in-process, boto3's own AWS addresses, answered by moto
        self._in_process: Any = None
        if self.moto == "in-process":
            from moto import mock_aws

            moto_speedups.install()
            self._in_process = mock_aws()
            self._in_process.start()  # a clean slate, as a reset server
        else:
            self.server, self.endpoint = start_moto(self.aws_port, own_process=self.moto == "process")

    def _endpoint_environment(self) -> dict[str, str | None]:
        """AWS_ENDPOINT_URL for the functions' clients; none at all when moto answers in-process.
        A developer's service-specific endpoints (AWS_ENDPOINT_URL_<SERVICE>, which win over it) are
        removed; in-process, endpoints configured in a profile are ignored too."""
        specific = {name: None for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")}
        ignore = {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true" if self.endpoint is None else None}
        return {**specific, **ignore, "AWS_ENDPOINT_URL": self.endpoint}

    def _watch_schedule_calls(self) -> None:
        """Tell the emulator which schedules the functions create or delete, with what AWS took and
        answered, so that it neither reads them back nor lists the whole group after every
        invocation (a listing costs O(pending), a read one more call per schedule). The functions'
        clients come from pollbridge's session (`adapters.aws.session`), made after this (ports are
        built on the first invocation), and inherit the hooks."""
        from pollbridge.adapters.aws import session as aws_session

        self._session_events = aws_session().get_component("event_emitter")
        emulator = self.emulator

        def remember(params: dict[str, Any], context: dict[str, Any] | None = None, **_: Any) -> None:
            if isinstance(params, dict) and context is not None:
                context["local_cloud_params"] = copy.deepcopy(params)

        def created(parsed: dict[str, Any], context: dict[str, Any] | None = None, **_: Any) -> None:
            params = (context or {}).get("local_cloud_params")
            if params and "ScheduleArn" in parsed:
                emulator.created(params, str(parsed["ScheduleArn"]))
            elif params:  # refused (a conflict, a throttle): look at the name later, as before
                emulator.notice(str(params["Name"]), params.get("GroupName"))

        def deleted(parsed: dict[str, Any], context: dict[str, Any] | None = None, **_: Any) -> None:
            params = (context or {}).get("local_cloud_params")
            if params and "Error" not in parsed:
                emulator.deleted(str(params["Name"]), params.get("GroupName"))
            elif params:
                emulator.notice(str(params["Name"]), params.get("GroupName"))

        def updated(parsed: dict[str, Any], context: dict[str, Any] | None = None, **_: Any) -> None:
            params = (context or {}).get("local_cloud_params")
            if params and "ScheduleArn" in parsed:
                emulator.updated(params, str(parsed["ScheduleArn"]))
            elif params:
                emulator.notice(str(params["Name"]), params.get("GroupName"))

        self._watching: list[tuple[str, str]] = []
        hooks: list[tuple[str, Callable[..., None]]] = [
            ("before-parameter-build.scheduler.CreateSchedule", remember),
            ("before-parameter-build.scheduler.UpdateSchedule", remember),
            ("before-parameter-build.scheduler.DeleteSchedule", remember),
            ("after-call.scheduler.CreateSchedule", created),
            ("after-call.scheduler.UpdateSchedule", updated),
            ("after-call.scheduler.DeleteSchedule", deleted),
        ]
        for event_name, hook in hooks:
            unique_id = f"local-cloud-{id(self)}-{event_name}"
            self._session_events.register(event_name, hook, unique_id=unique_id)
            self._watching.append((event_name, unique_id))

    def _set_env(self, values: dict[str, str | None]) -> None:
        """Set these variables (None removes one), remembering what to restore."""
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _forget_cached_wiring()

    def _function_environment(self) -> dict[str, str]:
        """One process hosts both functions: their template environments must agree."""
        merged: dict[str, str] = {}
        for spec in self.specs.values():
            for name, value in spec.environment.items():
                if merged.setdefault(name, value) != value:
                    raise ValueError(f"functions disagree on {name}; the local cloud hosts them in one process")
        return merged

    def _create_resources(self) -> None:
        if self.media_bucket:  # not the stack's: the bucket chunks come from, which the deployment names
            self.clients["s3"].create_bucket(Bucket=self.media_bucket)
        for lid in self.plan.of_type("AWS::Scheduler::ScheduleGroup"):
            self.clients["scheduler"].create_schedule_group(Name=self.plan.physical[lid])
        for lid, resource in self.plan.of_type("AWS::S3::Bucket").items():
            self.clients["s3"].create_bucket(Bucket=self.plan.physical[lid])
            props = self.plan.resolve(resource.get("Properties") or {})
            if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
                self.clients["s3"].put_bucket_versioning(
                    Bucket=self.plan.physical[lid], VersioningConfiguration={"Status": "Enabled"}
                )
        for lid, resource in self.plan.of_type("AWS::SQS::Queue").items():
            props = self.plan.resolve(resource.get("Properties") or {})
            attributes = {"MessageRetentionPeriod": str(props.get("MessageRetentionPeriod", 345600))}
            self.clients["sqs"].create_queue(QueueName=self.plan.physical[lid], Attributes=attributes)
        for lid, resource in self.plan.of_type("AWS::SecretsManager::Secret").items():
            props = self.plan.resolve(resource.get("Properties") or {})
            created = self.clients["secretsmanager"].create_secret(
                Name=self.plan.physical[lid],
                Description=props.get("Description", ""),
                # The signing secret holds the development key, so that events/poll.json (signed with
                # it) verifies here too; every other secret is made as CloudFormation makes it.
                SecretString=LOCAL_SIGNING_KEY if lid == "PayloadSigningSecret" else self._secret_value(props),
            )
            self.plan.created_arns[lid] = created["ARN"]  # `Ref` gives the ARN, suffix and all, as in AWS

        token_parameter = self.plan.parameters.get("WebhookTokenParameterName")
        if token_parameter:  # what a deployer creates before deploying (the template cannot make a SecureString)
            self.clients["ssm"].put_parameter(
                Name=token_parameter, Value=LOCAL_WEBHOOK_TOKEN, Type="SecureString", Overwrite=True
            )

    def _secret_value(self, props: dict[str, Any]) -> str:
        """A secret's value as CloudFormation makes it: `SecretString`, or `GenerateSecretString` (a random
        password with the template's settings, alone or put into `SecretStringTemplate`)."""
        if "SecretString" in props:
            return str(props["SecretString"])
        spec = dict(props.get("GenerateSecretString") or {})
        template, key = spec.pop("SecretStringTemplate", None), spec.pop("GenerateStringKey", None)
        password = str(self.clients["secretsmanager"].get_random_password(**spec)["RandomPassword"])
        if template is None:
            return password
        return json.dumps({**json.loads(template), str(key): password})

    # --- what tools and tests use ---------------------------------------------------------------

    @property
    def schedule_group(self) -> str:
        (lid,) = self.plan.of_type("AWS::Scheduler::ScheduleGroup")
        return self.plan.physical[lid]

    @property
    def provider(self) -> str:
        return self.plan.parameters["Provider"]

    @property
    def media_bucket(self) -> str:
        return self.plan.parameters["MediaBucketName"]

    @property
    def staging_bucket(self) -> str | None:
        return self.plan.physical.get("StagingBucket")

    @property
    def results_bucket(self) -> str:
        return self.plan.physical["ResultsBucket"]

    @property
    def dead_letter_queue(self) -> str:
        return self.plan.physical["PollDeadLetterQueue"]

    @property
    def payload_signing_secret(self) -> str:
        """The ARN of the secret that signs poll payloads (what the functions get as PAYLOAD_SIGNING_SECRET)."""
        return self.plan.arn("PayloadSigningSecret")

    def put_sample_media(self, chunk: dict[str, Any]) -> None:
        """Put a small stand-in for an s3:// chunk's media where its cacheURI points (the media bucket):
        a second of silence for audio, an MP4 header for video (moto's services read neither)."""
        parts = urlsplit(str(chunk.get("cacheURI") or ""))
        if parts.scheme != "s3":
            return
        mime = str(chunk.get("mimeType", ""))
        body = sample_wav() if mime.startswith("audio/") else b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
        self.clients["s3"].put_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"), Body=body, ContentType=mime)

    def invoke(self, logical_id: str, event: Any) -> Invocation:
        with self.invoke_lock:
            return self.functions[logical_id].invoke(event)

    def function_by_name(self, name_or_arn: str) -> LocalFunction | None:
        """Find a function by logical id, physical name or ARN (as Lambda's Invoke API accepts)."""
        for logical_id, function in self.functions.items():
            if name_or_arn in (logical_id, function.spec.name, function.spec.arn):
                return function
        return None

    def pending_schedules(self, polls_only: bool = False) -> list[str]:
        """The names of the schedules in the group; `polls_only`: without the (disabled) start markers."""
        names = []
        paginator = self.clients["scheduler"].get_paginator("list_schedules")
        for page in paginator.paginate(GroupName=self.schedule_group):
            names += [s["Name"] for s in page.get("Schedules", []) if not polls_only or s.get("State") != "DISABLED"]
        return names

    def records(self) -> dict[str, dict[str, Any]]:
        """Every record, keyed by taskId; the records of a task of several chunks by `taskId/chunk`."""
        found: list[dict[str, Any]] = []
        paginator = self.clients["s3"].get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.results_bucket, Prefix="results/"):
            for obj in page.get("Contents", []):
                body = self.clients["s3"].get_object(Bucket=self.results_bucket, Key=obj["Key"])["Body"].read()
                found.append(json.loads(body))
        per_task: dict[str, int] = {}
        for record in found:
            per_task[record["taskId"]] = per_task.get(record["taskId"], 0) + 1
        return {
            record["taskId"] if per_task[record["taskId"]] == 1 else f"{record['taskId']}/{record.get('chunk')}": record
            for record in found
        }

    def record_versions(self, task_id: str | None = None) -> dict[str, int]:
        """How many times each record key was written (the bucket is versioned, as in the template)."""
        from pollbridge.naming import record_key, task_record_prefix

        prefixes = [record_key(task_id), task_record_prefix(task_id)] if task_id is not None else ["results/"]
        counts: dict[str, int] = {}
        paginator = self.clients["s3"].get_paginator("list_object_versions")
        for prefix in prefixes:
            for page in paginator.paginate(Bucket=self.results_bucket, Prefix=prefix):
                for version in page.get("Versions", []):
                    counts[version["Key"]] = counts.get(version["Key"], 0) + 1
        return counts

    def dead_letter_count(self) -> int:
        url = self.clients["sqs"].get_queue_url(QueueName=self.dead_letter_queue)["QueueUrl"]
        attributes = self.clients["sqs"].get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def run_until_idle(self, max_virtual_ms: int = 7 * 86_400_000) -> None:
        """Manual clock: jump to each next moment (a schedule fires, Lambda retries, a late duplicate
        arrives) and let it happen, until nothing is left to happen."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("run_until_idle drives a manual clock; a compressed cloud runs by itself")
        limit = self.clock.now_ms() + max_virtual_ms
        while True:
            self.emulator.refresh()
            upcoming = self.emulator.next_fire_ms()
            if upcoming is None or upcoming > limit:
                return
            self.clock.advance_to(upcoming)
            self.emulator.fire_due()


def sample_wav(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    """A mono 16-bit PCM WAV of silence."""
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


def _forget_cached_wiring() -> None:
    """Settings and adapters are cached per process, as in a Lambda container; a new cloud is a new container."""
    from pollbridge import observability, settings, wiring
    from pollbridge.adapters import aws

    settings.load_settings.cache_clear()
    wiring.forget_ports()
    # The container's botocore session too: it keeps the credentials it first resolved, and only a
    # session made after moto's in-process mock started is answered by it.
    aws.session.cache_clear()
    # Powertools reads POWERTOOLS_METRICS_NAMESPACE when the shared Metrics object is made: in Lambda
    # the environment is there before any import; here the process may have imported it earlier.
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE")
    if namespace and not observability.metrics.provider.namespace:
        observability.metrics.provider.namespace = namespace
    # Likewise the shared Logger writes to the stdout of when it was made: a container's is its own.
    handler = getattr(observability.logger, "registered_handler", None)
    if handler is not None and hasattr(handler, "setStream"):
        handler.setStream(sys.stdout)


__all__ = ["LocalCloud", "start_moto"]
