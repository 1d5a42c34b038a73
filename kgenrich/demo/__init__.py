"""The demo collection: a synthetic silk collection in the SILKNOW graph shape.

See :mod:`kgenrich.demo.generator`; ``kgenrich demo`` runs the agent on it.
"""

from .generator import DemoCollection, generate

__all__ = ["DemoCollection", "generate"]
