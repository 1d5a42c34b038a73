"""kgenrich: a KG-native enrichment agent for cultural-heritage knowledge graphs."""

__version__ = "0.1.0"
