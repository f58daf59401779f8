"""Keep a local cloud running: AWS (moto), the stack from template.yaml, the vendor simulator, the
scheduler emulator firing schedules, and Lambda's Invoke API for the functions.

    python -m devtools.serve [--speed 1] [--aws-port 4566] [--vendor-port 8081] [--lambda-port 9001]

Writes .localcloud/state.json (endpoints, stack outputs) for devtools.ops, and .localcloud/env.json,
an env-vars file for devtools.invoke or `sam local invoke`. Ctrl-C (or SIGTERM) stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from devtools.cloud.lambda_endpoint import LambdaEndpoint
from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.local_values import ROOT
from devtools.standins.vendor_simulator import SimConfig

STATE_DIR = ROOT / ".localcloud"


def state_of(cloud: LocalCloud, lambda_url: str) -> dict[str, Any]:
    return {
        "stackName": cloud.stack_name,
        "endpoint": cloud.endpoint,
        "lambdaEndpoint": lambda_url,
        "vendorUrl": cloud.simulator.url,
        "speed": cloud.speed,
        "outputs": cloud.plan.outputs(),
    }


def env_vars_of(cloud: LocalCloud) -> dict[str, Any]:
    """SAM's env-vars format: what every function gets, pointed at this cloud."""
    if cloud.endpoint is None:
        raise ValueError("other processes reach a served local cloud only: start it with moto='thread' or 'process'")
    merged: dict[str, str] = {}
    for spec in cloud.specs.values():
        merged.update(spec.environment)
    merged["AWS_ENDPOINT_URL"] = cloud.endpoint
    return {"Parameters": merged, **{logical_id: {} for logical_id in cloud.specs}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--speed", type=float, default=1.0, help="virtual seconds per real second (default 1)")
    parser.add_argument("--aws-port", type=int, default=0)
    parser.add_argument("--vendor-port", type=int, default=0)
    parser.add_argument("--lambda-port", type=int, default=0)
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--flaky-rate", type=float, default=0.0)
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
    args = parser.parse_args(argv)

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    config = SimConfig(failure_rate=args.failure_rate, flaky_rate=args.flaky_rate)
    with LocalCloud(speed=args.speed, sim_config=config, aws_port=args.aws_port, vendor_port=args.vendor_port) as cloud:
        endpoint = LambdaEndpoint(cloud, args.lambda_port).start()
        cloud.emulator.start()
        args.state_dir.mkdir(parents=True, exist_ok=True)
        state_file, env_file = args.state_dir / "state.json", args.state_dir / "env.json"
        state_file.write_text(json.dumps(state_of(cloud, endpoint.url), indent=2))
        env_file.write_text(json.dumps(env_vars_of(cloud), indent=2))
        print(f"local cloud up (x{args.speed:g} time)", flush=True)
        print(f"  AWS (moto)        {cloud.endpoint}", flush=True)
        print(f"  Lambda Invoke API {endpoint.url}", flush=True)
        print(f"  vendor simulator  {cloud.simulator.url}", flush=True)
        print(f"  schedule group    {cloud.schedule_group}; results bucket {cloud.results_bucket}", flush=True)
        print(f"  state {state_file}, env-vars {env_file}; Ctrl-C stops", flush=True)
        try:
            stop.wait()
        finally:
            cloud.emulator.stop()
            endpoint.stop()
            for path in (state_file, env_file):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
    print("local cloud stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
