"""``make demo``: the product on its embedded defaults with demo data and a demo target."""
