"""Every class a public package exports documents itself (``help(dexego.X.Name)`` says what it is)."""

import importlib
import inspect

import pytest

PACKAGES = ("dexego.actions", "dexego.data", "dexego.models", "dexego.serve", "dexego.evaluate", "dexego.train",
            "dexego.retarget", "dexego.sim", "dexego.tokenizers", "dexego.hands", "dexego.geometry", "dexego.demo")  # fmt: skip


@pytest.mark.parametrize("package", PACKAGES)
def test_exported_classes_have_docstrings(package):
    module = importlib.import_module(package)
    undocumented = []
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if inspect.isclass(obj):
            doc = obj.__doc__ or ""
            if not doc.strip() or doc.startswith(f"{obj.__name__}("):  # a dataclass's generated signature is no doc
                undocumented.append(name)
    assert not undocumented, f"{package}: {undocumented}"
