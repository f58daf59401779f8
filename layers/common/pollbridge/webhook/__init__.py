"""The webhook: aiWARE's engine toolkit calls it (through engine/forwarder.py) at `GET /ready` and
`POST /process`. `form` turns the toolkit's multipart form into a new chunk or a poll task (pure);
`endpoint` is the Function URL handler around the same core use cases as the segment and poll
functions; `aiware_token` checks a task token with aiWARE (WEBHOOK_AUTH=aiware-token)."""
