"""App configuration of the example shop."""

from django.apps import AppConfig


class ShopConfig(AppConfig):
    """The shop app; its key type is fixed here so its migration never depends on settings."""

    name = "shop"
    verbose_name = "Shop"
    default_auto_field = "django.db.models.BigAutoField"
