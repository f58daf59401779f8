"""pollbridge: run long third-party jobs behind an aiWARE-style engine, polled by EventBridge Scheduler.

Layout: `models` (the contract), `decisions` and `timing` (pure rules), `core` (the use cases),
`ports` (the interfaces core needs), `adapters` (AWS and vendor implementations of those ports),
`wiring` (builds the adapters from the settings), `entrypoint` (Powertools-wrapped Lambda handlers).
"""

__version__ = "0.1.0"
