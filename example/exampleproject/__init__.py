"""The example project that shows django-orm-monitoring on a small shop."""
