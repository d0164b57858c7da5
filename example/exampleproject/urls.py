"""URL configuration of the example project: a start page, the shop, the admin, monitoring."""

from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.utils.html import format_html, format_html_join

from shop.models import Product


def index(request: HttpRequest) -> HttpResponse:
    """List the demo's pages, so that the printed site URL lands somewhere useful."""
    first = Product.objects.order_by("pk").values_list("pk", flat=True).first() or 1
    links = [
        "/products/",
        f"/products/{first}/",
        f"/products/{first}/cached/",
        "/products/n-plus-one/",
        "/users/1/profile/",
        "/async/products/",
        "/slow/",
        "/error/",
        "/health-of-shop/",
        "/admin/",
        "/monitoring/metrics/?format=prometheus",
        "/monitoring/healthz/",
    ]
    items = format_html_join("\n", '<li><a href="{0}">{0}</a></li>', ((link,) for link in links))
    return HttpResponse(format_html("<h1>Example shop</h1>\n<ul>\n{}\n</ul>", items))


urlpatterns = [
    path("", index, name="index"),
    path("admin/", admin.site.urls),
    path("", include("shop.urls")),
]

# Lets gunicorn serve the admin's CSS while DEBUG is on (runserver does it by itself);
# this adds nothing when DEBUG is off.
urlpatterns += staticfiles_urlpatterns()

# Monitoring: the README's quick start, verbatim.
urlpatterns += [path("monitoring/", include("monitoring.urls"))]
