"""templates: Jinja2 templates for email and chat messages, Vietnamese first. Data, not code."""
