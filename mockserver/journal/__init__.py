"""The journal: every exchange the mock saw, bounded, and the views built on it (retry
groups, exports) that tests, reports and the inspector share."""
