"""The modules a project module imports are found wherever the import statement is."""
from __future__ import annotations

import ast
import sys
import textwrap

import pytest

from datamake.define.moduleimports import scan_imports

EVERY_BLOCK = '''
import top
if flag:
    import in_if
elif other:
    import in_elif
else:
    from . import in_else
try:
    import in_try
except ImportError:
    import in_except
else:
    import in_try_else
finally:
    import in_finally
for x in y:
    import in_for
else:
    import in_for_else
while w:
    import in_while
else:
    import in_while_else
with ctx:
    from ..up import in_with
class C:
    import in_class
    def method(self):
        import in_method
        def nested():
            from pkg import in_nested
async def coroutine():
    async with ctx:
        import in_async_with
    async for item in source:
        import in_async_for
'''

MATCH = '''
match value:
    case 1:
        import in_case
    case _:
        from in_default import name
'''


def _plain_imports(tree: ast.Module) -> set:
    """Brute force: the name of every ``import X`` anywhere in the tree."""
    return {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}


@pytest.mark.parametrize("source, froms", [
    (EVERY_BLOCK, {"proj.sub", "proj.sub.in_else", "proj.up", "proj.up.in_with", "pkg", "pkg.in_nested"}),
] + ([(MATCH, {"in_default", "in_default.name"})] if sys.version_info >= (3, 10) else []))
def test_an_import_in_any_block_is_found(source, froms):
    tree = ast.parse(textwrap.dedent(source))
    found = set(scan_imports(tree, "proj.sub"))
    assert found == _plain_imports(tree) | froms
