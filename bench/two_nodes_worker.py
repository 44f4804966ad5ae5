"""The Huey consumer of one node in bench/two_nodes.py: ``huey_consumer bench.two_nodes_worker.huey``."""

from app.tasks import bind_app, huey  # noqa: F401  (the consumer reads ``huey`` from here)
from bench.two_nodes import make_app

bind_app(make_app())
