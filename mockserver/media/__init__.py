"""Media files: the bundled samples, the result video, byte ranges, and the MP4 reader
that tells the task answer how large the video is."""
