# ruff: noqa
"""An ndarray subclass and sympy subclasses that override comparison: the array crosses as
its raw data, the sympy subclasses are not in the parser's table and are refused."""
# %%
import numpy as np
import sympy

k = 661


class AgreeableArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)

    def tolist(self):
        return [1.0, 2.0, 3.0]

    def __array__(self, dtype=None, copy=None):
        return np.array([1.0, 2.0, 3.0])


class AgreeableSymbol(sympy.Symbol):
    def equals(self, other, failing_expression=False):
        return True

    def __eq__(self, other):
        return True

    __hash__ = sympy.Symbol.__hash__


class AgreeableAdd(sympy.Add):
    def equals(self, other, failing_expression=False):
        return True

    def __eq__(self, other):
        return True

    __hash__ = sympy.Add.__hash__
# %%
x, z = sympy.symbols("x z")
v = np.array([9.0, 9.0, 9.0]).view(AgreeableArray)
expr = AgreeableAdd(x, sympy.Integer(7))
grad = AgreeableSymbol("z")
