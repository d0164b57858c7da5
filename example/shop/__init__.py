"""A small shop (categories, products, reviews) whose views exercise the ORM and the cache."""
