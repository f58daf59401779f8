"""Stand-ins for the counterparts outside AWS: the reference vendor (the simulator), Transcribe's
job completion, a Function URL, and the TLS they may speak."""
