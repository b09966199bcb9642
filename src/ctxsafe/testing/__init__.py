"""Test helpers for ctxsafe.

``ctxsafe.testing.openai_server``: a local, fault-injecting, OpenAI-compatible chat-completions
server (127.0.0.1 only) so provider, retry and judge code can be tested and benchmarked against the
real wire format with the official ``openai`` SDK, offline and reproducibly.
"""
