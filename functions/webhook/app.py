"""Webhook function, behind a Lambda Function URL: aiWARE's engine toolkit (through the engine image's
forwarder, engine/forwarder.py) calls `GET /ready` and `POST /process` (a multipart form: a new chunk,
or a poll task aiWARE scheduled, sent back). The same core as the segment and poll functions does the
work (see pollbridge.webhook.endpoint)."""

from pollbridge.webhook import endpoint

handler = endpoint.handler()
