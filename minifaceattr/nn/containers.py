"""Containers: ``Sequential`` runs modules one after another, ``ModuleList`` just holds them.

Their children are named "0", "1", ..., which is where state-dict keys such as
``layer1.0.conv1.weight`` and ``downsample.1.running_mean`` get their numbers.
"""
from collections import OrderedDict

from .module import Module


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
