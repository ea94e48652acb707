"""mail: the email channel (compose, SMTP sender, IMAP watcher, bounce and reply triage).

Depends on ``storage`` only; never on ``bot``.
"""
