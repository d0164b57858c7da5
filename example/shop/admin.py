"""Admin pages for the shop's catalogue."""

from django.contrib import admin

from shop.models import Category, Product, Review


class ReviewInline(admin.TabularInline):
    """The reviews of a product, edited on the product's page."""

    model = Review
    extra = 0


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    """Categories: a name only."""

    list_display = ["name"]
    search_fields = ["name"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    """Products, filterable by category."""

    list_display = ["name", "category", "price", "stock"]
    list_filter = ["category"]
    # Avoids one category query per row on the change list.
    list_select_related = ["category"]
    search_fields = ["name"]
    inlines = [ReviewInline]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    """Reviews, filterable by rating."""

    list_display = ["product", "rating"]
    list_filter = ["rating"]
    list_select_related = ["product"]
    autocomplete_fields = ["product"]
