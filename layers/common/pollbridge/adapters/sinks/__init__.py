"""Where task records go. S3 first; another destination implements the RecordSink port."""

from pollbridge.adapters.sinks.s3 import S3RecordSink

__all__ = ["S3RecordSink"]
