"""trackbridge backend for Databricks: ``backend = "databricks"`` in trackbridge's config.

Importing this package (or its ``plugin`` module) does not import ``databricks.sdk``; the
backend imports it when first used.
"""

__version__ = "0.1.0"
