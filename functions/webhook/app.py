"""Webhook function, behind a Lambda Function URL: aiWARE's engine toolkit calls `GET /ready` and
`POST /process` (a multipart form: a new chunk, or a poll task the platform scheduled, sent back).
The same core as the segment and poll functions does the work (see pollbridge.webhook_http)."""

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from pollbridge import webhook_http

app = LambdaFunctionUrlResolver()


@app.get("/ready")
def ready() -> Response[str]:
    return webhook_http.ready()


@app.post("/process")
def process() -> Response[str]:
    return webhook_http.process(app.current_event)


handler = webhook_http.handler(app)
