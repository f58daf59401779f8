"""Benchmarks (`make bench`): they measure, they assert nothing (the tests check the rules).

- `timing`: polls versus detection lag, every policy on the same simulated tasks (pollbridge's own
  timing function, imported, not copied), and what each costs per million tasks.
- `coldstart`: each handler's import and first invocation in fresh interpreters laid out as Lambda
  lays them out, against `import boto3` and a hand-written boto3 handler making the same calls.
- `warm`: CPU per warm poll against the hand-written handler.
- `scaling`: the local cloud at 1,000 and 10,000 tasks.
- `memory`: the peak memory of the poll that completes a task, each provider's result at its
  documented maximum, in fresh interpreters.

`python -m devtools.bench --write` runs them and rewrites the generated sections of BENCHMARKS.md
(and the plots under docs/benchmarks/), with the date and the machine beside every figure.
"""
