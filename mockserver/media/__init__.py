"""Media files: the bundled samples, each model's result file, byte ranges, and the MP4 and
PNG readers that tell the task answer how large a result is."""
