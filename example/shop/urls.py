"""The shop's URLs; self-contained so that any project can ``include("shop.urls")``."""

from django.urls import path

from shop import views

app_name = "shop"

urlpatterns = [
    path("products/", views.product_list, name="product-list"),
    path("products/<int:pk>/", views.product_detail, name="product-detail"),
    path("products/n-plus-one/", views.product_n_plus_one, name="product-n-plus-one"),
    path("products/<int:pk>/cached/", views.product_cached, name="product-cached"),
    path("users/<int:user_id>/profile/", views.user_profile, name="user-profile"),
    path("error/", views.error, name="error"),
    path("slow/", views.slow, name="slow"),
    path("async/products/", views.async_product_list, name="async-product-list"),
    path("health-of-shop/", views.health, name="health"),
]
