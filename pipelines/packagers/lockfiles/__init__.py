"""Each package manager's lockfile read into one shape (`LockEntry` by node_modules path):
npm's package-lock.json, pnpm-lock.yaml, yarn berry's and yarn 1's yarn.lock, and the platform
words in package names. Imports nothing of the pipeline but `errors`; the audit, the project
reader and the packagers read lockfiles only through here.
"""
