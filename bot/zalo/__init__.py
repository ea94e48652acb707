"""Zalo: the Bot Platform, the Official Account API v3 and (off by default) ZNS templates.

Thin async httpx clients whose base URL and transport are injectable (``bot_platform``,
``official_account``, ``zns``, with the OA token kept in ``tokens``), the channels the dispatcher
uses (``channel``), webhook checks as pure functions (``webhook``), the poller that answers
people (``runner``), and ``service.ZaloService``, which builds all of it from ``config``.
"""
