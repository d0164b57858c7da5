"""The WSGI application gunicorn serves in the fleet tests."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.fleet_settings")
application = get_wsgi_application()
