"""The mock measured against the real service: a recording proxy that captures what the
upstream really answers, and a drift check that compares those answers (or a live contract
probe) with what the mock says to the same requests.

It sits with the runner: it serves (the proxy), starts mocks (the replay) and talks HTTP to
an upstream, none of which the layers below may do.
"""
