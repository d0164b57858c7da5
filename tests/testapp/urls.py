from django.urls import path, re_path

from . import views

urlpatterns = [
    path("plain/", views.plain),
    path("items/<int:pk>/", views.item),
    path("boom/", views.boom),
    path("queries/<int:n>/", views.queries),
    path("raw/", views.raw),
    path("status/<int:code>/", views.status),
    path("async/<int:n>/", views.async_queries),
    re_path(r"^legacy/(?P<year>[0-9]{4})/$", views.legacy),
]
