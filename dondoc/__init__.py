"""dondoc: the composition root. Settings, the command line and the wiring of the parts below.

Nothing here does domain work itself; it reads configuration, opens the database and calls into
``storage`` (and, as they land, ``scheduler``, ``mail`` and ``bot``).
"""

__version__ = "0.1.0"
