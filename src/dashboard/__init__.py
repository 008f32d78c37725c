"""Community policing dashboard: outreach, crime and trust joined by place and time."""

__version__ = "0.1.0"
