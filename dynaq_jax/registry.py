"""Name -> plug-in tables for model kinds and planners.

``dynaq_jax.models`` and ``dynaq_jax.planners`` each fill one table (one line per plug-in);
``DynaQConfig`` validates its ``model`` and ``planner`` fields against them. The tables live here,
below the config, so that the config can check names without importing the plug-ins (which import
the config). Nothing here knows any plug-in.
"""

from collections.abc import Iterator
from typing import Any, Generic, Protocol, TypeVar


class PlugIn(Protocol):
    """What the config needs of a plug-in: a check of the config fields it depends on."""

    def check_config(self, config: Any) -> None:
        """Raise ``ValueError`` naming the field when ``config`` cannot run this plug-in."""
        ...


T = TypeVar("T", bound=PlugIn)


class Registry(Generic[T]):
    """An ordered table ``name -> plug-in``; a name is registered once."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        """Add ``item`` under ``name`` (``ValueError`` if the name is taken); returns ``item``."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"a {self.what} name must be an identifier, got {name!r}")
        if name in self._items:
            raise ValueError(f"a {self.what} named {name!r} is already registered")
        self._items[name] = item
        return item

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ValueError(f"no {self.what} named {name!r}; registered: {self.names()}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._items)


MODEL_REGISTRY: Registry[PlugIn] = Registry("model kind")
"""Model kinds by name (filled by ``dynaq_jax.models``)."""

PLANNER_REGISTRY: Registry[PlugIn] = Registry("planner")
"""Planners by name (filled by ``dynaq_jax.planners``)."""

__all__ = ["MODEL_REGISTRY", "PLANNER_REGISTRY", "PlugIn", "Registry"]
