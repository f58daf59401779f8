"""Hand-written boto3 handlers making the same AWS and vendor calls as pollbridge's, for the cold
start and warm benchmarks: what a competent engineer writes without a framework (module-level
clients, plain dicts, no validation library, no Powertools)."""
