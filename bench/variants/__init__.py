"""Experiment of issue 9, item 3: the hot reads as async views (docs/decisions/0012).

Not part of the product. ``settings`` is the project's settings plus a URL conf with two
async views; ``BENCH_ASGI_APPLICATION`` picks the ASGI app the launcher serves:
``aventide.asgi.application`` (the product: one hop per request) or
``bench.variants.asgi_stock.application`` (Django's stock async handler, where async views
run on the event loop).
"""
