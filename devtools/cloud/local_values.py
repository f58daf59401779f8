"""The fixed values of every local run: where the project is, and what a developer's machine gives
the functions in place of a deployment's (none of them secret).

Kept apart from the local cloud so that the commands that only need these (`devtools.invoke`,
`devtools.ops`, `devtools.make_events`) do not import moto and the stack behind it.
"""

from __future__ import annotations

from pathlib import Path

from devtools.cloud.template_stack import REGION

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
