"""Read template.yaml the way CloudFormation would, enough to lay the stack out locally.

Resolves Ref, Fn::Sub, Fn::GetAtt, Fn::If, Fn::Join and conditions against parameter values, so
the local cloud creates the same schedule group, buckets and queues and gives each function the
environment the template gives it: nothing is repeated by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc]
    pass


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@dataclass(frozen=True)
class AsyncInvokeConfig:
    """A function's EventInvokeConfig: how Lambda retries an asynchronous event the function failed,
    and where the event goes when it gives up. Lambda's defaults when the template sets none."""

    max_retries: int = 2  # 0-2
    max_event_age_s: int = 21_600  # 60 s - 6 h
    on_failure_arn: str | None = None  # DestinationConfig.OnFailure (an SQS queue here)
    on_failure_type: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.max_retries <= 2:
            raise ValueError(f"EventInvokeConfig.MaximumRetryAttempts must be 0-2, not {self.max_retries}")
        if not 60 <= self.max_event_age_s <= 21_600:
            raise ValueError(f"EventInvokeConfig.MaximumEventAgeInSeconds must be 60-21600, not {self.max_event_age_s}")


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    layer_dirs: tuple[Path, ...]
    environment: dict[str, str]
    timeout_s: int
    memory_mb: int
    event_invoke: AsyncInvokeConfig = field(default_factory=AsyncInvokeConfig)


@dataclass
class StackPlan:
    """The stack as the local cloud builds it."""

    root: Path
    template: dict[str, Any]
    stack_name: str
    parameters: dict[str, str]
    physical: dict[str, str] = field(default_factory=dict)
    queue_url_base: str = "https://sqs.us-east-1.amazonaws.com"  # the local cloud sets its endpoint
    # ARNs that only creation tells (a secret's ends in a random suffix), as the local cloud got them.
    created_arns: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_template(cls, path: Path, stack_name: str = "pollbridge-local", **overrides: str) -> StackPlan:
        template = load_template(path)
        params = {name: str(spec.get("Default", "")) for name, spec in (template.get("Parameters") or {}).items()}
        unknown = set(overrides) - set(params)
        if unknown:
            raise ValueError(f"template has no parameters {sorted(unknown)}")
        params.update(overrides)
        missing = [
            name for name, value in params.items() if value == "" and "Default" not in template["Parameters"][name]
        ]
        if missing:
            raise ValueError(f"parameters without a value: {missing}")
        plan = cls(path.parent, template, stack_name, params)
        plan.physical = {lid: plan._physical_name(lid, res) for lid, res in plan.resources.items()}
        return plan

    @property
    def resources(self) -> dict[str, Any]:
        """The resources CloudFormation would create: those whose `Condition` holds."""
        return {
            lid: res
            for lid, res in self.template["Resources"].items()
            if "Condition" not in res or self.condition(res["Condition"])
        }

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res["Type"] == cfn_type}

    # --- intrinsic functions ---------------------------------------------------------------

    def _pseudo(self) -> dict[str, str]:
        return {
            "AWS::StackName": self.stack_name,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
        }

    def _physical_name(self, logical_id: str, resource: dict[str, Any]) -> str:
        props = resource.get("Properties") or {}
        for key in ("Name", "QueueName", "BucketName", "FunctionName", "RoleName", "LayerName", "LogGroupName"):
            if key == "FunctionName" and resource["Type"] != "AWS::Serverless::Function":
                continue  # a permission's FunctionName names the function it is about, not itself
            if key in props:
                return str(self.resolve(props[key]))
        return f"{self.stack_name}-{logical_id}".lower()[:63]

    def arn(self, logical_id: str) -> str:
        if logical_id in self.created_arns:
            return self.created_arns[logical_id]
        resource = self.resources[logical_id]
        name = self.physical[logical_id]
        kind = resource["Type"]
        return {
            "AWS::Serverless::Function": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
            "AWS::SQS::Queue": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT_ID}:{name}",
            "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{name}",
            "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{name}",
            "AWS::Scheduler::ScheduleGroup": f"arn:{PARTITION}:scheduler:{REGION}:{ACCOUNT_ID}:schedule-group/{name}",
            "AWS::Serverless::LayerVersion": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:1",
            # Before creation: the partial ARN (no random suffix), which Secrets Manager also accepts.
            "AWS::SecretsManager::Secret": f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{name}",
        }.get(kind, f"arn:{PARTITION}:local:{REGION}:{ACCOUNT_ID}:{name}")

    def ref(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        if name in self._pseudo():
            return self._pseudo()[name]
        if name in self.resources:
            kind = self.resources[name]["Type"]
            if kind == "AWS::SQS::Queue":
                return f"{self.queue_url_base}/{ACCOUNT_ID}/{self.physical[name]}"
            if kind in ("AWS::IAM::Role", "AWS::S3::Bucket", "AWS::Scheduler::ScheduleGroup", "AWS::Logs::LogGroup"):
                return self.physical[name]
            if kind in ("AWS::Serverless::LayerVersion", "AWS::SecretsManager::Secret"):
                return self.arn(name)
            return self.physical[name]
        raise KeyError(f"Ref to unknown name {name!r}")

    def get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in ("QueueName", "Name"):
            return self.physical[logical_id]
        if attribute == "FunctionUrl":  # SAM's <Function>Url (FunctionUrlConfig): a Function URL's address
            function = logical_id.removesuffix("Url")
            return f"https://{self.physical.get(function, function).lower()}.lambda-url.{REGION}.on.aws/"
        raise KeyError(f"unsupported Fn::GetAtt {logical_id}.{attribute}")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not _NO_VALUE}
        ((key, arg),) = value.items()
        match key:
            case "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
            case "Fn::GetAtt":
                return self.get_att(*(arg if isinstance(arg, list) else arg.split(".", 1)))
            case "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub_var(m.group(1), extra), text)
            case "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            case "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            case "Fn::Not":
                return not self.resolve(arg[0])
            case "Fn::And":
                return all(self.resolve(a) for a in arg)
            case "Fn::Or":
                return any(self.resolve(a) for a in arg)
            case "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.resolve(arg[1]))
            case "Condition":
                return self.condition(arg)
        return {key: self.resolve(arg)}

    def _sub_var(self, name: str, extra: dict[str, Any]) -> str:
        if name in extra:
            return str(extra[name])
        if "." in name:
            return self.get_att(*name.split(".", 1))
        return self.ref(name)

    # --- what the local cloud needs ---------------------------------------------------------

    def functions(self) -> dict[str, FunctionSpec]:
        defaults = (self.template.get("Globals") or {}).get("Function") or {}
        specs = {}
        for lid, res in self.of_type("AWS::Serverless::Function").items():
            props = {**defaults, **(res.get("Properties") or {})}
            env = {
                **((defaults.get("Environment") or {}).get("Variables") or {}),
                **(((res.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}),
            }
            layers = tuple(
                self.root / self.resources[layer["Ref"]]["Properties"]["ContentUri"]
                for layer in props.get("Layers", [])
                if isinstance(layer, dict) and "Ref" in layer
            )
            specs[lid] = FunctionSpec(
                logical_id=lid,
                name=self.physical[lid],
                arn=self.arn(lid),
                code_dir=self.root / props["CodeUri"],
                handler=props["Handler"],
                layer_dirs=layers,
                environment={k: str(v) for k, v in self.resolve(env).items()},
                timeout_s=int(props.get("Timeout", 3)),
                memory_mb=int(props.get("MemorySize", 128)),
                event_invoke=self._event_invoke_config(props.get("EventInvokeConfig")),
            )
        return specs

    def _event_invoke_config(self, raw: Any) -> AsyncInvokeConfig:
        if not raw:
            return AsyncInvokeConfig()
        config = self.resolve(raw)
        on_failure = ((config.get("DestinationConfig") or {}).get("OnFailure")) or {}
        return AsyncInvokeConfig(
            max_retries=int(config.get("MaximumRetryAttempts", 2)),
            max_event_age_s=int(config.get("MaximumEventAgeInSeconds", 21_600)),
            on_failure_arn=on_failure.get("Destination"),
            on_failure_type=on_failure.get("Type"),
        )

    def outputs(self) -> dict[str, str]:
        return {
            name: str(self.resolve(out["Value"]))
            for name, out in (self.template.get("Outputs") or {}).items()
            if "Condition" not in out or self.condition(out["Condition"])
        }


class _NoValue:
    pass


_NO_VALUE = _NoValue()
