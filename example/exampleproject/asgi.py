"""ASGI entry point of the example project (for uvicorn, daphne or hypercorn)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exampleproject.settings")

application = get_asgi_application()
