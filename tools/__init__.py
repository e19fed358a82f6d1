"""Tools for developing and trying Reflect from a checkout (not installed with the product)."""
