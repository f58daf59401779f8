"""Print template.yaml translated to plain CloudFormation (JSON), as `sam deploy` would submit it.

Runs with the SAM CLI's own Python (.venv-sam), which has aws-sam-translator; the project's
environment deliberately does not (it pins another pydantic).
"""

import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """Managed policies are named by ARN in SAM's output; no IAM lookup is needed offline."""

    def load(self) -> dict[str, str]:
        return {}


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # pseudo parameters need a region
    with open(sys.argv[1]) as handle:
        template = yaml_parse(handle.read())
    for name, resource in template["Resources"].items():  # what `sam package` does: local code -> S3
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = f"s3://pollbridge-artifacts/{name}.zip"
    translated = transform(template, {"ProviderUrl": "https://vendor.example.com"}, NoManagedPolicies())
    json.dump(translated, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main()
