"""Load on the local cloud: the workload driver, the fault injector and the platform emulator."""
