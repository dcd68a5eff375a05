"""Getting the built images out: the publish gate (stage by digest, check, verify, move tags)
and the exported multi-platform archive. May import `registry/` and the floor (`platforms`,
`errors`, `logs`); never the plan, the stages or Dagger.
"""
