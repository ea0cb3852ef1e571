"""Use cases the API and the CLI call: the only way into store, queue, media and engines."""
