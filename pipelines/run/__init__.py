"""Running a plan on Dagger engines: the graph of every leg, the builds, the checks, then the
export or the publish gate, and the report of it all. The only layer that awaits Dagger calls.
May import everything below it (`publish/`, `stages/`, `plan/`, `registry/`, `engines/` ...).
"""
