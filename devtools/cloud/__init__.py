"""The local cloud: what stands in for AWS here (moto, the scheduler emulator, the Lambda host,
the stack built from template.yaml) and the clocks they share."""
