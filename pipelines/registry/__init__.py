"""The registry side: an OCI distribution client and everything that speaks through it.

Owns image references, credentials, the client (manifests, blobs, auth, retries), the checks
behind `verify_index`, the tag moves, the arm64 variant fix, the index assembled from several
engines' pushes, and pushing through the engine with retries. It may import `platforms`,
`errors` and `logs`, nothing else of the pipeline: a registry change stays in this folder.
"""
