"""Maintainer scripts run from the checkout (``python -m tools.catalogue``); not part of the installed package."""
