"""Production monitoring and alerting for Django sites."""

__version__ = "0.1.0"
