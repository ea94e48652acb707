"""The web service: health, the signed completion webhook and the dashboard for organisers
and focal points (an ASGI app served by uvicorn inside ``dondoc run``, or by ``dondoc web``).
"""
