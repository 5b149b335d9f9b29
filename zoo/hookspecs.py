"""The hooks a zoo plugin can implement. Decorate implementations with ``@zoo.hookimpl``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from zoo.model import Model

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def register_models(register: Callable[[type[Model]], None]) -> None:
    """Register model classes: call ``register(ModelClass)`` once for each `zoo.Model` subclass the plugin ships."""
