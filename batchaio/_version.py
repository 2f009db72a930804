"""Package and service API versions."""

__version__ = "0.1.0.dev0"
API_VERSION = "2024-07-01.20.0"
