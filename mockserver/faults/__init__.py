"""Faults: what can go wrong on purpose, which requests it hits, and when. Decided here
(pure Python, seeded), carried out by the HTTP edge and the task store."""
