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

# Globals computed from the module's own location and literals alone: the certificate records both.
LOCATIONS = {
    "path of the module's folder": "from pathlib import Path\nDATA = Path(__file__).parent / 'data'\n",
    "pathlib module": "import pathlib\nROOT = pathlib.Path(__file__).parents[1].joinpath('in', 'x.csv')\n",
    "os.path": "import os\nHERE = os.path.dirname(os.path.abspath(__file__))\nIN = os.path.join(HERE, 'in')\n",
    "os.path imported as": "import os.path as osp\nfrom os.path import join\nIN = join(osp.dirname(__file__), 'x')\n",
    "range in a global": "N = 3\nSIZES = list(range(1, N + 1))\nNAMES = [f'p{i}' for i in range(N)]\n",
    "range in a comprehension": "from pathlib import Path\nFILES = {i: Path(__file__).with_name(f'{i}.csv') for i in range(2)}\n",
    "string methods": "from pathlib import Path\nNAME = Path(__file__).stem.upper().replace('_', '-')\n",
    "in a decorator": "from datamake import asset\nimport os\n\n@asset(group=os.path.basename(os.path.dirname(__file__)))\ndef a():\n    return 1\n",
}

IMPURE = {
    "reads the module's file": "from pathlib import Path\nTEXT = Path(__file__).read_text()\n",
    "resolves links": "from pathlib import Path\nHERE = Path(__file__).resolve().parent\n",
    "realpath": "import os\nHERE = os.path.realpath(__file__)\n",
    "looks for a file": "import os\nHAS = os.path.exists(os.path.join(os.path.dirname(__file__), 'x'))\n",
    "lists a folder": "from pathlib import Path\nFILES = sorted(Path(__file__).parent.glob('*.csv'))\n",
    "working folder": "from pathlib import Path\nHERE = Path.cwd() / 'data'\n",
    "path from the environment": "import os\nfrom pathlib import Path\nP = Path(os.environ['DATA'])\n",
    "range of an imported value": "from helpers import N\nSIZES = list(range(N))\n",
    "range of a call": "import random\nSIZES = list(range(random.randint(1, 3)))\n",
    "builtin rebound": "import helpers\nrange = helpers.myrange\nSIZES = list(range(3))\n",
    "star import may rebind": "from pathlib import Path\nfrom helpers import *\nDATA = Path(__file__).parent\n",
    "Path from elsewhere": "from helpers import Path\nDATA = Path(__file__).parent\n",
    "__file__ rebound": "from pathlib import Path\nimport helpers\n__file__ = helpers.WHERE\nDATA = Path(__file__).parent\n",
    "constant assigned twice": "N = 3\nN = 4\nSIZES = list(range(N))\n",
    "a folder from sys.path": "import os, sys\nIN = os.path.join(sys.path[0], 'in')\n",
    "home folder": "from pathlib import Path\nCACHE = Path(__file__).parent.expanduser()\n",
    "method of another object": "import helpers\nX = helpers.REGISTRY.join(['a'])\n",

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
    "datamake name bound in a function": ("from datamake import asset\n\ndef f():\n    asset = 1\n    return asset\n\n"
                                          "@asset\ndef g():\n    return 1\n"),
    "datamake name rebound in a class": "from datamake import asset\n\nclass C:\n    asset = 1\n\n@asset\ndef g():\n    return 1\n",
    "datamake name rebound by a comprehension in a decorator": ("from datamake import asset\n\n"
                                                                "@asset(deps=[asset for asset in 'ab'])\ndef g():\n    return 1\n"),
    "datamake name rebound under another spelling": ("from datamake import asset\nimport helpers\n\uff41sset = helpers.traced\n\n"
                                                     "@asset\ndef f():\n    return 1\n"),
    "datamake name rebound, Windows line ends": ("from datamake import asset\r\nimport helpers\r\nasset = helpers.traced\r\n\r\n"
                                                 "@asset\r\ndef f():\r\n    return 1\r\n"),
    "datamake imported in a function": "def f():\n    from datamake import asset\n\nasset = 1\n\n@asset\ndef g():\n    return 1\n",
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


@pytest.mark.parametrize("name", sorted(LOCATIONS))
def test_globals_made_from_the_module_location_and_literals_are_accepted(name):
    assert impurities(LOCATIONS[name]) == []


@pytest.mark.parametrize("name", sorted(IMPURE))
def test_impure_modules_are_refused_with_the_line_that_makes_them_so(name):
    problems = impurities(IMPURE[name], "m.py")
    assert problems and all(p.startswith("m.py:") for p in problems), problems


def test_modules_are_judged_with_the_collector_paused_and_it_runs_again_after(monkeypatch, tmp_path):
    """A large module's syntax tree is a million objects and no cycles: the collector, scanning them as
    they age, doubled the time of judging a 10,000-function module. It is paused for the judging only,
    and a long-lived process (the daemon, the API) gets it back on."""
    import gc
    import types

    from datamake.shortcut import purity, record

    seen = []

    def judged(source, filename="<module>", tree=None):
        seen.append(gc.isenabled())
        return []

    monkeypatch.setattr(purity, "impurities", judged)
    verdicts = {"d1": None}
    assert gc.isenabled()
    record._judge([(types.SimpleNamespace(digest="d1", path="m.py"), "x = 1\n")], verdicts, str(tmp_path / "pure.json"))
    assert seen == [False] and verdicts == {"d1": []}
    assert gc.isenabled()
