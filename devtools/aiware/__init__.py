"""Stand-ins for aiWARE's side of an engine: the engine toolkit (toolkit.py), the platform that hands it
tasks and schedules poll tasks (platform.py), and a Function URL on loopback (function_url_server.py), so
that `make demo MODE=aiware` runs pollbridge's engine (engine/forwarder.py) exactly as aiWARE would call
it, without aiWARE, Docker or AWS."""
