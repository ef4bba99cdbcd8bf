# ruff: noqa
"""Objects that lie: equal to everything, an int and a float whose repr says the right
answer, a bool subclass, a list whose iteration lies. They cross as their plain data."""
# %%
class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__

    def __repr__(self):
        return "661"

    @property
    def __class__(self):
        return int


class LyingInt(int):
    def __repr__(self):
        return "661"

    __str__ = __repr__

    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class LyingFloat(float):
    def __repr__(self):
        return "3.0"

    __str__ = __repr__

    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class LyingList(list):
    def __iter__(self):
        return iter([1.0, 2.0, 3.0])

    def __eq__(self, other):
        return True


k = 661
# %%
flag = AlwaysEqual()
v = LyingList([9.0, 9.0, 9.0])


def double(a):
    return LyingFloat(0.0)


def stats(a):
    return (LyingInt(0), LyingFloat(0.0))
