"""Issue 16: a Transcribe or Rekognition submit the service refuses for its quota (LimitExceededException,
answered at the HTTP level before moto) names the copy of the media it staged, and the next try starts
from that copy: the media is neither read nor put again. moto behind, pollbridge's own clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from pollbridge.adapters import aws as plumbing
from pollbridge.adapters.providers.aws import Staging
from pollbridge.adapters.providers.rekognition_text import RekognitionTextProvider
from pollbridge.adapters.providers.transcribe import TranscribeProvider
from pollbridge.errors import TransientError
from pollbridge.ports import Media
from tests.integration.test_aws_throttles import _Raw

BUCKET = "staging"
LIMIT = b'{"__type": "LimitExceededException", "Message": "You have exceeded the concurrent job limit"}'


class Quota:
    """Refuses every start of a job with LimitExceededException while `full`; counts the S3 puts."""

    def __init__(self, service_client: Any, s3: Any, operation: str) -> None:
        self.full = True
        self.puts = 0
        self._operation = operation
        service_client.meta.events.register("before-send", self._refuse)
        s3.meta.events.register("before-call.s3.PutObject", self._count_put)

    def _refuse(self, request: Any, **_: Any) -> AWSResponse | None:
        target = request.headers.get("X-Amz-Target", b"")
        if self.full and self._operation.encode() in (target if isinstance(target, bytes) else target.encode()):
            return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(LIMIT))
        return None

    def _count_put(self, **_: Any) -> None:
        self.puts += 1


def unreadable(media_type: str) -> Media:
    def read() -> bytes:
        raise AssertionError("the media was read again")

    return Media(read, media_type)


Build = Callable[[Staging, Any], Any]
PROVIDERS: dict[str, tuple[Callable[[], Any], str, Build, str]] = {
    "transcribe": (
        lambda: plumbing.client("transcribe"), "StartTranscriptionJob",
        lambda s, c: TranscribeProvider(s, lambda: c), "audio/wav",
    ),
    "rekognition-text": (
        lambda: plumbing.client("rekognition"), "StartTextDetection",
        lambda s, c: RekognitionTextProvider(s, lambda: c), "video/mp4",
    ),
}  # fmt: skip


def at_quota(aws: dict[str, Any], name: str) -> tuple[Any, Quota, str]:
    """The provider on pollbridge's own clients (moto behind), its service at its limit; its media type."""
    make_client, operation, build, media_type = PROVIDERS[name]
    aws["s3"].create_bucket(Bucket=BUCKET)
    plumbing.session.cache_clear()
    s3, client = plumbing.client("s3"), make_client()
    return build(Staging(lambda: s3, BUCKET), client), Quota(client, s3, operation), media_type


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_a_refused_start_names_its_staged_copy_and_the_next_try_starts_from_it(aws: dict[str, Any], name: str) -> None:
    provider, quota, media_type = at_quota(aws, name)
    key = "pollbridge-t-1-job"

    with pytest.raises(TransientError) as refused:
        provider.submit(Media(b"\x00" * 64, media_type), {}, key)
    staged = refused.value.staged
    assert refused.value.refusal and staged is not None and staged.startswith(f"s3://{BUCKET}/media/{key}.")
    assert quota.puts == 1

    with pytest.raises(TransientError) as again:  # still at its limit: nothing read, nothing put
        provider.submit(unreadable(media_type), {}, key, staged)
    assert again.value.staged == staged and quota.puts == 1

    quota.full = False
    work_id = provider.submit(unreadable(media_type), {}, key, staged)
    assert work_id and quota.puts == 1  # started from the copy the first try put


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_a_staged_uri_that_is_not_this_units_copy_is_not_trusted(aws: dict[str, Any], name: str) -> None:
    """Only the unit's own copy in the staging bucket counts: anything else means the media is put again."""
    provider, quota, media_type = at_quota(aws, name)
    quota.full = False
    provider.submit(Media(b"\x00" * 64, media_type), {}, "pollbridge-t-2-job", f"s3://{BUCKET}/media/other.wav")
    assert quota.puts == 1


def test_the_media_buckets_own_object_is_never_offered_as_staged(aws: dict[str, Any]) -> None:
    """A chunk read where it lies (the media bucket) is read there again: no copy to name."""
    aws["s3"].create_bucket(Bucket=BUCKET)
    plumbing.session.cache_clear()
    s3, client = plumbing.client("s3"), plumbing.client("transcribe")
    Quota(client, s3, "StartTranscriptionJob")
    provider = TranscribeProvider(Staging(lambda: s3, BUCKET), lambda: client)
    in_place = Media(lambda: b"", "audio/wav", s3_uri="s3://media/chunks/a.wav")
    with pytest.raises(TransientError) as refused:
        provider.submit(in_place, {}, "pollbridge-t-3-job")
    assert refused.value.refusal and refused.value.staged is None
