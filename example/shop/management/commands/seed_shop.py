"""Fill the example shop with a fixed catalogue: 8 categories, 60 products, 3 reviews each.

Running it again changes nothing; ``--reset`` deletes the whole catalogue first.
"""

import random
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from shop.models import Category, Product, Review

# Eight nouns per category; the first PRODUCT_COUNT pairs, round robin, become products.
CATALOGUE: dict[str, tuple[str, ...]] = {
    "Books": ("Atlas", "Cookbook", "Novel", "Poetry", "Biography", "Almanac", "Comic", "Guide"),
    "Coffee": ("Espresso", "Grinder", "Moka Pot", "Filter", "Beans", "Kettle", "Cup", "Scale"),
    "Garden": ("Trowel", "Hose", "Planter", "Seeds", "Rake", "Shears", "Gloves", "Watering Can"),
    "Kitchen": ("Pan", "Knife", "Whisk", "Cutting Board", "Colander", "Ladle", "Apron", "Grater"),
    "Music": ("Ukulele", "Harmonica", "Metronome", "Tuner", "Capo", "Drumsticks", "Kazoo", "Pick"),
    "Outdoor": ("Tent", "Lantern", "Backpack", "Compass", "Hammock", "Flask", "Stove", "Tarp"),
    "Stationery": (
        "Notebook",
        "Fountain Pen",
        "Pencil",
        "Eraser",
        "Ruler",
        "Ink",
        "Stapler",
        "Clip",
    ),
    "Toys": ("Kite", "Yo-yo", "Puzzle", "Robot", "Marbles", "Top", "Train", "Blocks"),
}
ADJECTIVES = ("Classic", "Compact", "Deluxe", "Handmade", "Sturdy", "Vintage")
REVIEW_BODIES = (
    "Exactly as described.",
    "Good value for the price.",
    "Arrived quickly, works well.",
    "Not what I expected.",
    "Would buy again.",
    "Decent, but a bit pricey.",
)
PRODUCT_COUNT = 60
REVIEWS_PER_PRODUCT = 3
# A fixed seed gives every run the same catalogue, which keeps demos and tests comparable.
SEED = 2024


class Command(BaseCommand):
    """Seed the shop's catalogue, unless it is already there."""

    help = "Create 8 categories, 60 products and 3 reviews per product (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete all categories, products and reviews first.",
        )

    def handle(self, *args: Any, reset: bool = False, **options: Any) -> None:
        rng = random.Random(SEED)
        with transaction.atomic():
            if reset:
                self._wipe()
            existing = Product.objects.count()
            if existing:
                self.stdout.write(
                    f"Shop already seeded ({existing} products); use --reset to redo."
                )
                return
            categories = _create_categories()
            products = _create_products(categories, rng)
            reviews = _create_reviews(products, rng)
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {len(categories)} categories, {len(products)} products, "
                f"{reviews} reviews."
            )
        )

    def _wipe(self) -> None:
        # Reviews and products first: products PROTECT their category.
        Review.objects.all().delete()
        Product.objects.all().delete()
        Category.objects.all().delete()
        self.stdout.write("Deleted the existing catalogue.")


def _create_categories() -> dict[str, Category]:
    present = set(Category.objects.filter(name__in=CATALOGUE).values_list("name", flat=True))
    Category.objects.bulk_create(Category(name=n) for n in CATALOGUE if n not in present)
    return {c.name: c for c in Category.objects.filter(name__in=CATALOGUE)}


def _create_products(categories: dict[str, Category], rng: random.Random) -> list[Product]:
    pairs = [(cat, nouns[i]) for i in range(8) for cat, nouns in CATALOGUE.items()]
    Product.objects.bulk_create(
        Product(
            category=categories[cat],
            name=f"{rng.choice(ADJECTIVES)} {noun}",
            price=Decimal(rng.randrange(299, 9999)) / 100,
            stock=rng.randint(0, 200),
        )
        for cat, noun in pairs[:PRODUCT_COUNT]
    )
    # Read the rows back: not every database reports primary keys from bulk_create.
    return list(Product.objects.order_by("pk"))


def _create_reviews(products: list[Product], rng: random.Random) -> int:
    reviews = [
        Review(
            product=product,
            rating=rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 2, 4, 4))[0],
            body=rng.choice(REVIEW_BODIES),
        )
        for product in products
        for _ in range(REVIEWS_PER_PRODUCT)
    ]
    Review.objects.bulk_create(reviews)
    return len(reviews)
