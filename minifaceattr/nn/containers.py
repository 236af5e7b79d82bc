"""Containers: ``Sequential`` runs modules one after another, ``ModuleList`` just holds them.

Their children are named "0", "1", ..., which is where state-dict keys such as
``layer1.0.conv1.weight`` and ``downsample.1.running_mean`` get their numbers.
"""
from collections import OrderedDict

from .module import Module, Parameter


class Sequential(Module):
    """``Sequential(m0, m1, ...)``: forward(x) = ... m1(m0(x)). Also accepts one
    ``OrderedDict`` of ``{name: module}`` to name the steps."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def forward(self, x):
        for module in self.children():
            x = module(x)
        return x

    def __getitem__(self, index):
        modules = list(self.children())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        return modules[index]

    def __len__(self):
        return len(list(self.children()))

    def __iter__(self):
        return iter(self.children())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters the parent sees (a plain Python list would hide
    them). It has no forward: the owner decides how to use its items."""

    def __init__(self, modules=()):
        super().__init__()
        self.extend(modules)

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def __getitem__(self, index):
        modules = list(self.children())
        return ModuleList(modules[index]) if isinstance(index, slice) else modules[index]

    def __len__(self):
        return len(list(self.children()))

    def __iter__(self):
        return iter(self.children())


class ModuleDict(Module):
    """A dict of modules whose parameters the parent sees, named ``<key>.<parameter>``."""

    def __init__(self, modules=None):
        super().__init__()
        for key, module in dict(modules or {}).items():
            self[key] = module

    def __setitem__(self, key, module):
        self.add_module(str(key), module)

    def __getitem__(self, key):
        return dict(self.named_children())[key]

    def __contains__(self, key):
        return key in dict(self.named_children())

    def __len__(self):
        return len(list(self.children()))

    def __iter__(self):
        return iter(dict(self.named_children()))

    def keys(self):
        return dict(self.named_children()).keys()

    def values(self):
        return dict(self.named_children()).values()

    def items(self):
        return dict(self.named_children()).items()


class ParameterList(Module):
    """A list of parameters that the owning module sees, named ``0``, ``1``, ..."""

    def __init__(self, parameters=()):
        super().__init__()
        for p in parameters:
            self.append(p)

    def append(self, parameter):
        if not isinstance(parameter, Parameter):
            raise TypeError(f"ParameterList holds Parameters, got {type(parameter).__name__}")
        object.__setattr__(self, str(len(self)), parameter)
        return self

    def __getitem__(self, index):
        return list(self.parameters())[index]

    def __len__(self):
        return sum(1 for _ in self.parameters())

    def __iter__(self):
        return iter(list(self.parameters()))
