from django.urls import path

from . import views

urlpatterns = [
    path("plain/", views.plain),
    path("items/<int:pk>/", views.item),
]
