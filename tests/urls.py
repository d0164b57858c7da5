from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("t/", include("tests.testapp.urls")),
    path("", include("shop.urls")),
]

# The wire-up of the README's quick start, verbatim.
urlpatterns += [path("monitoring/", include("monitoring.urls"))]
