"""bot: the chat channels (Telegram, Zalo), their conversations and access rules.

Depends on ``storage`` only; never on ``mail``.
"""
