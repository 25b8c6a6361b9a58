"""Apps: Python packages that extend a site with DocTypes, controllers and methods.

A site lists its apps in ``site_config.json``::

    {"apps": ["library_app"], "app_paths": ["../examples/library_app"]}

``app_paths`` (optional, relative to the site folder allowed) are put on
``sys.path`` first. Each listed module is imported once, when the site is opened,
and may provide:

* a ``doctypes/`` folder next to it with Frappe DocType JSON files (imported by
  ``new_site`` and ``migrate``);
* ``controllers``: a dict of DocType name -> controller class (instantiated here,
  without arguments), whose hook methods run in the document lifecycle and whose
  methods marked with :func:`whitelisted_method` are callable as document methods.
  One instance serves every request, concurrently on PostgreSQL: a controller keeps
  no per-request state;
* ``methods_modules``: the dotted names of its modules holding functions marked
  with :func:`whitelist` (default: the app module itself);
* ``permission_rules``: a dict of DocType name -> rule class (instantiated here,
  without arguments) with ``conditions(ctx, meta)`` and ``allows(ctx, meta, doc,
  ptype)``, added to the permission policy's rules (``ristretto.permissions.docperm``).
  A rule can only take rights away, never grant them.

Nothing here is ever driven by a request: what is loaded is decided by the site
configuration alone, and only functions explicitly decorated *and defined in* a
listed app's modules reach the method registry.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, Callable, Iterable

from ristretto.whitelist import DEFAULT_VERBS, MethodRegistry, whitelist

__all__ = ["AppError", "LoadedApp", "load_apps", "install_controllers", "register_methods",
           "permission_rules", "whitelist", "whitelisted_method", "doc_method_verbs"]

# The attribute whitelisted_method sets on a controller function: its allowed verbs.
_DOC_METHOD_ATTR = "__ristretto_doc_method__"


class AppError(Exception):
    """An app listed in the site configuration cannot be loaded (one-line message)."""


def whitelisted_method(fn: Callable | None = None, *, methods: Iterable[str] | None = None):
    """Mark a controller method ``(self, ctx, doc, **kwargs)`` as callable over HTTP.

    Usable bare (``@whitelisted_method``: Frappe's default verbs GET, POST, PUT,
    DELETE) or with ``methods=("POST",)``. Only marked methods are reachable through
    ``run_method`` / ``run_doc_method``; hooks and helpers never are.
    """
    verbs = frozenset(m.upper() for m in methods) if methods else DEFAULT_VERBS

    def mark(f: Callable) -> Callable:
        setattr(f, _DOC_METHOD_ATTR, verbs)
        return f

    return mark(fn) if fn is not None else mark


def doc_method_verbs(fn: Any) -> frozenset[str] | None:
    """The verbs a (bound or plain) document method allows; None when not whitelisted."""
    return getattr(getattr(fn, "__func__", fn), _DOC_METHOD_ATTR, None)


@dataclass(frozen=True)
class LoadedApp:
    name: str
    module: ModuleType
    doctypes_path: Path | None
    controllers: dict[str, object]
    method_modules: tuple[ModuleType, ...]
    rules: tuple[tuple[str, object], ...] = ()


def load_apps(config: dict[str, Any], site_path: Path) -> list[LoadedApp]:
    """Import every app the configuration lists; AppError on the first that fails."""
    names = config.get("apps") or []
    paths = config.get("app_paths") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise AppError('"apps" in site_config.json must be a list of module names')
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise AppError('"app_paths" in site_config.json must be a list of folders')
    for p in reversed(paths):
        folder = (site_path / p).resolve()  # an absolute p stays as it is
        if not folder.is_dir():
            raise AppError(f"App path {p!r} in site_config.json is not a folder ({folder})")
        if str(folder) not in sys.path:
            # In front, like PYTHONPATH: the configured folder wins over installed packages.
            sys.path.insert(0, str(folder))
    apps: list[LoadedApp] = []
    for name in names:
        if name in (a.name for a in apps):
            raise AppError(f"App {name!r} is listed twice in site_config.json")
        apps.append(_load_app(name))
    return apps


def _import(name: str, what: str) -> ModuleType:
    if not name or not all(part.isidentifier() for part in name.split(".")):
        raise AppError(f"{what} {name!r} is not a valid Python module name")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise AppError(f"{what} {name!r} is listed in site_config.json but cannot be imported: "
                           f"no module named {e.name!r} (install it or add its folder to \"app_paths\")") from None
        raise AppError(f"{what} {name!r} failed to import: {type(e).__name__}: {e}") from None
    except Exception as e:  # noqa: BLE001 - any import failure is reported as one line
        raise AppError(f"{what} {name!r} failed to import: {type(e).__name__}: {e}") from None


def _load_app(name: str) -> LoadedApp:
    module = _import(name, "App")
    folder = Path(module.__file__).parent / "doctypes" if getattr(module, "__file__", None) else None
    controllers: dict[str, object] = {}
    for doctype, cls in (getattr(module, "controllers", None) or {}).items():
        if not isinstance(doctype, str) or not isinstance(cls, type):
            raise AppError(f"App {name!r}: controllers must map DocType names to classes")
        try:
            controllers[doctype] = cls()
        except Exception as e:  # noqa: BLE001
            raise AppError(f"App {name!r}: controller for {doctype} cannot be created: {e}") from None
    rules = []
    for doctype, cls in (getattr(module, "permission_rules", None) or {}).items():
        if not isinstance(doctype, str) or not isinstance(cls, type):
            raise AppError(f"App {name!r}: permission_rules must map DocType names to classes")
        try:
            rule = cls()
        except Exception as e:  # noqa: BLE001
            raise AppError(f"App {name!r}: permission rule for {doctype} cannot be created: {e}") from None
        if not (callable(getattr(rule, "conditions", None)) and callable(getattr(rule, "allows", None))):
            raise AppError(f"App {name!r}: permission rule for {doctype} needs conditions() and allows()")
        rules.append((doctype, rule))
    modules = []
    for mod_name in getattr(module, "methods_modules", None) or [name]:
        # An app may only expose its own modules, never another package's.
        if not isinstance(mod_name, str) or not (mod_name == name or mod_name.startswith(name + ".")):
            raise AppError(f"App {name!r}: methods module {mod_name!r} is not part of the app")
        modules.append(_import(mod_name, "Methods module"))
    return LoadedApp(name, module, folder if folder and folder.is_dir() else None, controllers, tuple(modules),
                     tuple(rules))


def install_controllers(controllers: dict[str, object], apps: list[LoadedApp]) -> None:
    """Add the apps' controllers; an app may not replace a built-in or another app's."""
    for app in apps:
        for doctype, controller in app.controllers.items():
            if doctype in controllers:
                raise AppError(f"App {app.name!r}: DocType {doctype} already has a controller")
            controllers[doctype] = controller


def permission_rules(apps: list[LoadedApp]) -> list[tuple[str, object]]:
    """(DocType, rule) of every app, in app order: added after the built-in rules."""
    return [rule for app in apps for rule in app.rules]


def register_methods(registry: MethodRegistry, apps: list[LoadedApp]) -> None:
    """Register the whitelisted functions defined in the apps' methods modules.

    Functions merely imported into such a module are skipped (they belong to
    someone else), and an app may not take over a name already registered: a
    ``frappe.client.*`` name always means Ristretto's own function.
    """
    for app in apps:
        for module in app.method_modules:
            own = {k: v for k, v in vars(module).items()
                   if getattr(v, "__ristretto_whitelist__", None) and getattr(v, "__module__", None) == module.__name__}
            for fn in own.values():
                for method_name, _, _ in fn.__ristretto_whitelist__:
                    if method_name in registry:
                        raise AppError(f"App {app.name!r}: method {method_name!r} is already registered")
            registry.add_module(SimpleNamespace(**own))


def app_definition_files(apps: list[LoadedApp]) -> list[Path]:
    """Every DocType JSON file of the apps, in app order."""
    files: list[Path] = []
    for app in apps:
        if app.doctypes_path is not None:
            files += sorted(p for p in app.doctypes_path.rglob("*.json") if p.is_file())
    return files
