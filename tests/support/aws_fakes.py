"""Fake boto3 clients that behave as the AWS APIs document (errors as botocore raises them), for the
providers' tests where moto cannot: several result pages, forced statuses, injected failures."""

from __future__ import annotations

import copy
import io
import itertools
from typing import Any

from botocore.exceptions import ClientError

FAILURES = {
    "throttling": ("ThrottlingException", "Rate exceeded", 400),
    "server_error": ("InternalServerError", "We encountered an internal error. Please try again.", 500),
}


def client_error(code: str, message: str, status: int, operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


class _Failing:
    failure: str | None = None

    def _check(self, operation: str) -> None:
        if self.failure is not None:
            raise client_error(*FAILURES[self.failure], operation)


class FakeS3(_Failing):
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str = "binary/octet-stream") -> Any:
        self._check("PutObject")
        self.objects[(Bucket, Key)] = (bytes(Body), ContentType)
        return {"ETag": '"x"'}

    def get_object(self, *, Bucket: str, Key: str) -> Any:
        self._check("GetObject")
        if (Bucket, Key) not in self.objects:
            raise client_error("NoSuchKey", "The specified key does not exist.", 404, "GetObject")
        body = self.objects[(Bucket, Key)][0]
        return {"Body": io.BytesIO(body), "ContentLength": len(body)}


class FakeRekognition(_Failing):
    """StartTextDetection / GetTextDetection: a ClientRequestToken returns the same JobId; a
    SUCCEEDED job answers with `pages` (GetTextDetection answers, NextToken between them)."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.tokens: dict[str, str] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def start_text_detection(self, **request: Any) -> Any:
        self._check("StartTextDetection")
        token = request.get("ClientRequestToken")
        if token is not None and token in self.tokens:
            return {"JobId": self.tokens[token]}
        job_id = f"{next(self._ids):064d}"
        self.jobs[job_id] = {"status": "IN_PROGRESS", "message": None, "request": copy.deepcopy(request)}
        if token is not None:
            self.tokens[token] = job_id
        return {"JobId": job_id}

    def get_text_detection(self, *, JobId: str, MaxResults: int = 1000, NextToken: str | None = None) -> Any:
        self._check("GetTextDetection")
        job = self.jobs.get(JobId)
        if job is None:
            raise client_error("InvalidParameterException", "Request has invalid parameters", 400, "GetTextDetection")
        if job["status"] != "SUCCEEDED":
            answer: dict[str, Any] = {"JobStatus": job["status"], "TextDetections": []}
            if job["message"]:
                answer["StatusMessage"] = job["message"]
            return answer
        tokens = [page.get("NextToken") for page in self.pages]
        index = 0 if NextToken is None else tokens.index(NextToken) + 1
        page = copy.deepcopy(self.pages[index])
        page["TextDetections"] = page["TextDetections"][:MaxResults] if MaxResults < 1000 else page["TextDetections"]
        return page
