"""The engines a build runs on: the `engines` setting (PLATFORM=RUNNER_HOST) parsed without an
engine, and one Dagger connection per runner host. May import only the floor (`platforms`,
`errors`, `logs`) and Dagger.
"""
