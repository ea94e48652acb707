"""scheduler: reminder policy, outbox dispatch, digests and escalations, completion pollers.

Depends on ``mail``, ``bot`` and ``storage``; drives the channels through one protocol.
"""
