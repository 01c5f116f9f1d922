"""``[keymap]`` from helpdesk.toml into Textual's keymap, checked against the app's bindings.

Every Binding of ours has an id (``queue.claim``); the keymap maps ids to keys. The ids are
collected from the BINDINGS of the app class and of every screen and widget class defined in
``helpdesk.tui.screens`` and ``helpdesk.tui.widgets``, so a new screen needs no registration.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from textual.binding import Binding
from textual.dom import DOMNode

from helpdesk.core.config import ConfigError, ConfigProblem, KeymapEntry, Settings

__all__ = [
    "BindingInfo",
    "binding_classes",
    "check_keymap",
    "collect_bindings",
    "keymap_from_settings",
]

_PACKAGES = ("helpdesk.tui.screens", "helpdesk.tui.widgets")


@dataclass(frozen=True, slots=True)
class BindingInfo:
    binding: Binding
    owner: str  # the class that declares it, for messages


def binding_classes(app_class: type[DOMNode]) -> list[type[DOMNode]]:
    """The app class and every DOM node class our screen and widget modules define."""
    found: list[type[DOMNode]] = [app_class]
    for package_name in _PACKAGES:
        package = importlib.import_module(package_name)
        for module_info in pkgutil.iter_modules(package.__path__, package_name + "."):
            module = importlib.import_module(module_info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, DOMNode) and cls.__module__ == module.__name__:
                    found.append(cls)
    return found


def collect_bindings(classes: Iterable[type[DOMNode]]) -> dict[str, BindingInfo]:
    """Binding id -> its binding. Inherited bindings count (a subclass may bind in its base's
    namespace); bindings without an id (Textual's own) cannot be remapped and are left out."""
    out: dict[str, BindingInfo] = {}
    for cls in classes:
        for base in cls.__mro__:
            for item in base.__dict__.get("BINDINGS", ()):
                if isinstance(item, Binding) and item.id is not None:
                    out.setdefault(item.id, BindingInfo(item, base.__name__))
    return out


def _unknown(entry: KeymapEntry, known: Sequence[str]) -> ConfigProblem:
    close = difflib.get_close_matches(entry.binding, known, n=3, cutoff=0.6)
    if not close:
        # A right namespace with a wrong action ("queue.clam") is close to its siblings.
        prefix = entry.binding.split(".", 1)[0] + "."
        close = [k for k in known if k.startswith(prefix)][:5]
    detail = "unknown binding id"
    if close:
        detail += " (close matches: " + ", ".join(f'"{c}"' for c in close) + ")"
    return ConfigProblem(
        entry.key,
        entry.line,
        f"one of the {len(known)} binding ids the help screen (?) shows",
        f'"{entry.binding}"',
        detail,
    )


def check_keymap(settings: Settings, known: Mapping[str, BindingInfo]) -> list[ConfigProblem]:
    names = sorted(known)
    return [_unknown(e, names) for e in settings.keymap if e.binding not in known]


def keymap_from_settings(settings: Settings, app_class: type[DOMNode]) -> dict[str, str]:
    """Textual's keymap (id -> "key1,key2") for the settings; :class:`ConfigError` naming
    the file, line and key of every binding id the app does not have."""
    if not settings.keymap:
        return {}  # nothing to check: no need to import every screen at start
    known = collect_bindings(binding_classes(app_class))
    problems = check_keymap(settings, known)
    if problems:
        raise ConfigError(settings.source or "<defaults>", problems)
    return {e.binding: ",".join(e.keys) for e in settings.keymap}
