"""Registering mlic's modules and setting its default scope."""
import datetime
import importlib
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mlic (and mmpretrain) module so that all registries fill.

    Args:
        init_default_scope (bool): also make ``'mlic'`` the global default
            scope, so that configs resolve bare names through mlic's
            registries (which fall back to mmpretrain's and mmengine's).
    """
    # Imported here, when registries are filled: mmpretrain's full model
    # zoo is slow to import. mlic's packages are the registries' own
    # locations (mlic.registry.COMPONENT_PACKAGES), imported by name as
    # mmengine imports a registry's locations: this ground-floor module
    # does not import the layers above it.
    import mmpretrain.utils

    from mlic.registry import COMPONENT_PACKAGES
    mmpretrain.utils.register_all_modules(init_default_scope=False)
    for package in COMPONENT_PACKAGES:
        importlib.import_module(package)

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None:
        DefaultScope.get_instance('mlic', scope_name='mlic')
    elif current.scope_name != 'mlic':
        warnings.warn(f'The current default scope "{current.scope_name}" is '
                      'not "mlic"; register_all_modules makes it "mlic".')
        # A unique instance name: mmengine keeps every instance by name.
        name = f'mlic-{datetime.datetime.now()}'
        DefaultScope.get_instance(name, scope_name='mlic')
