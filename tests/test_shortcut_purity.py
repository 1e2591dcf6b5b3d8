"""Which project modules the no-op shortcut accepts: a module whose globals could come from anything
but its own text (the environment, files, the clock, a call) makes the project take the full path."""
from __future__ import annotations

import pytest

from datamake.shortcut.purity import impurities

PURE = {
    "assets": "from datamake import asset\n\n@asset\ndef a():\n    return 1\n\n@asset(deps=['a'], group='g')\ndef b(a):\n    return a\n",
    "docstring and constants": '"""Doc."""\nimport os\nN = 3\nNAMES = [f"x{i}" for i in (1, 2)] + ["z" * N]\nSEP = os.sep\n',
    "class with methods": "class Config:\n    '''c'''\n    size: int = 2\n\n    def double(self):\n        return self.size * 2\n",
    "main guard": "import sys\nif __name__ == '__main__':\n    print(sys.argv)\n",
    "optional import": "try:\n    import ujson as json\nexcept ImportError:\n    import json\n",
    "datamake call": "import datamake\nDEFS = datamake.Definitions([])\n",
    "standard decorators": ("import functools\nfrom dataclasses import dataclass, field\n\n@dataclass(frozen=True)\n"
                            "class P:\n    x: int = field(default=1)\n\n    @property\n    def y(self):\n"
                            "        return self.x\n\n@functools.lru_cache(maxsize=None)\ndef f():\n    return 1\n"),
}

IMPURE = {
    "environment": "import os\nLIMIT = int(os.environ.get('LIMIT', '1'))\n",
    "environ attribute": "import os\nENV = os.environ\n",
    "file read": "TEXT = open('x.txt').read()\n",
    "project function": "def f():\n    return 1\nX = f()\n",
    "loop making assets": "from datamake import asset\nfor i in range(3):\n    pass\n",
    "call in a default": "import time\ndef f(t=time.time()):\n    return t\n",
    "call in a decorator": "import mylib\n@mylib.register('x')\ndef f():\n    return 1\n",
    "project decorator": "def traced(fn):\n    return fn\n\n@traced\ndef f():\n    return 1\n",
    "imported decorator": "from helpers import traced\n\n@traced\ndef f():\n    return 1\n",
    "decorated method": "class C:\n    @helpers.cached\n    def f(self):\n        return 1\n",
    "own metaclass": "class Meta(type):\n    pass\n\nclass C(metaclass=Meta):\n    pass\n",
    "datamake name rebound": "from datamake import asset\nimport helpers\nasset = helpers.traced\n\n@asset\ndef f():\n    return 1\n",
    "trusted name redefined": "from functools import cache\n\ndef cache(fn):\n    return fn\n\n@cache\ndef f():\n    return 1\n",
    "subclass hook": "class Base:\n    def __init_subclass__(cls):\n        cls.seen = 1\n",
    "mutation": "import sys\nsys.path.append('x')\n",
    "attribute assignment": "import os\nos.environ['A'] = '1'\n",
    "broad try": "try:\n    import x\nexcept Exception:\n    pass\n",
    "call in a class body": "import random\nclass C:\n    seed = random.random()\n",
}


@pytest.mark.parametrize("name", sorted(PURE))
def test_pure_modules_are_accepted(name):
    assert impurities(PURE[name]) == []


@pytest.mark.parametrize("name", sorted(IMPURE))
def test_impure_modules_are_refused_with_the_line_that_makes_them_so(name):
    problems = impurities(IMPURE[name], "m.py")
    assert problems and all(p.startswith("m.py:") for p in problems), problems
