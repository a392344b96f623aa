"""The service as the provider runs it, with no HTTP in sight: the clock, the model
registry and its validators, keys, quotas, magic inputs, tasks and their lifecycle, and the
provider's error vocabulary. Everything above this package (the state, the HTTP edge, the
pytest plugin) asks it what the service would do; nothing here imports from above."""
