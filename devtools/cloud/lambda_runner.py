"""Runs one handler in this (fresh) process, as the Lambda runtime would, and prints its result.

Executed as a script by devtools.invoke, so it imports nothing of the project but the function
and its layers. Logs go to stderr; the result (or errorType/errorMessage) is stdout's last line.
"""

import argparse
import contextlib
import importlib
import json
import sys
import uuid


class Context:
    def __init__(self, name: str, arn: str, memory: int, timeout: int) -> None:
        self.function_name = name
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = memory
        self.function_version = "$LATEST"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self._timeout = timeout

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code-dir", required=True)
    parser.add_argument("--layer-dir", action="append", default=[])
    parser.add_argument("--handler", required=True)
    parser.add_argument("--event", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--arn", required=True)
    parser.add_argument("--memory", type=int, default=128)
    parser.add_argument("--timeout", type=int, default=3)
    args = parser.parse_args()
    sys.path[:0] = [args.code_dir, *args.layer_dir]
    with open(args.event) as handle:
        event = json.load(handle)
    module_name, function_name = args.handler.rsplit(".", 1)
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        try:
            handler = getattr(importlib.import_module(module_name), function_name)
            result = handler(event, Context(args.name, args.arn, args.memory, args.timeout))
        except Exception as error:
            print(json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}), file=out)
            return 1
    print(json.dumps(result), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
