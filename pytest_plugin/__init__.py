"""pytest plugin for vidu-lipsync-mock (registered through the `pytest11` entry point)."""
