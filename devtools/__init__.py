"""Developer tools, never deployed. The commands one runs are the modules at the top (demo, chaos,
burst, capacity, serve, invoke, ops, make_events, bench); the machinery behind them has rooms:
`cloud/` (the local cloud), `standins/` (the vendor and other counterparts), `load/` (workloads
and faults), `aiware/` (the platform and its engine toolkit)."""
