"""Declaring assets: decorator forms, keys, ins=, deps=, and how Definitions resolves them."""
from __future__ import annotations

import types

import pytest

from datamake import AssetDef, Definitions, asset
from datamake.define.assets import definitions_from_module, validate_key
from datamake.core.errors import DefinitionError, DuplicateKeyError, MissingDependencyError


def test_bare_decorator():
    @asset
    def orders():
        """Orders from the shop.

        More text."""
        return [1, 2]

    assert isinstance(orders, AssetDef)
    assert orders.key == "orders" and orders.params == () and orders.group == "default"
    assert orders.code_version is None and orders.io_manager is None
    assert orders.description == "Orders from the shop."


def test_decorator_with_options():
    @asset(name="clean", code_version=3, group="sales", io_manager="json", metadata={"owner": "me"}, retries=2)
    def clean_orders(orders, context):
        return orders

    assert clean_orders.key == "clean"
    assert clean_orders.code_version == "3"  # numbers become strings
    assert clean_orders.group == "sales" and clean_orders.io_manager == "json"
    assert clean_orders.metadata == {"owner": "me"} and clean_orders.retries == 2
    assert clean_orders.params == ("orders",) and clean_orders.wants_context


def test_empty_parentheses():
    @asset()
    def x():
        return 1

    assert x.key == "x"


def test_asset_is_callable_as_the_plain_function():
    @asset
    def double(numbers):
        return [n * 2 for n in numbers]

    assert double([1, 2]) == [2, 4]
    assert double(numbers=[3]) == [6]
    assert repr(double) == "<asset double>"


def test_key_prefix_and_resolution_within_the_prefix():
    @asset(key_prefix="sales")
    def orders():
        return 1

    @asset(key_prefix="/sales/")
    def totals(orders):
        return orders

    @asset(key_prefix="sales/eu")  # a nested prefix
    def eu(orders):
        return orders

    defs = Definitions([orders, totals, eu])
    assert orders.key == "sales/orders" and totals.key == "sales/totals" and eu.key == "sales/eu/eu"
    assert defs.deps["sales/totals"] == ("sales/orders",)
    assert defs.inputs["sales/eu/eu"] == {"orders": "sales/orders"}  # unique base name resolves


def test_ambiguous_base_name_needs_ins():
    @asset(key_prefix="eu")
    def orders():
        return 1

    @asset(key_prefix="us", name="orders")
    def us_orders():
        return 2

    @asset
    def report(orders):
        return orders

    with pytest.raises(MissingDependencyError) as info:
        Definitions([orders, us_orders, report])
    assert "eu/orders" in info.value.message and "us/orders" in info.value.message
    assert "ins=" in info.value.hint

    @asset(name="report", ins={"orders": "us/orders"})
    def report_us(orders):
        return orders

    assert Definitions([orders, us_orders, report_us]).deps["report"] == ("us/orders",)


def test_ins_maps_a_parameter_to_any_key():
    @asset
    def raw_orders():
        return 1

    @asset(ins={"data": raw_orders})
    def clean(data):
        return data

    @asset(ins={"data": "raw_orders"})
    def clean_too(data):
        return data

    defs = Definitions([raw_orders, clean, clean_too])
    assert defs.inputs["clean"] == {"data": "raw_orders"} == defs.inputs["clean_too"]


def test_deps_order_without_passing_a_value():
    @asset
    def files():
        return 1

    @asset
    def table():
        return 2

    @asset(deps=[files, "table"])
    def loaded():
        return 3

    defs = Definitions([files, table, loaded])
    assert defs.deps["loaded"] == ("files", "table")
    assert defs.inputs["loaded"] == {}


def test_deps_and_params_are_merged_without_duplicates():
    @asset
    def a():
        return 1

    @asset(deps=["a"])
    def b(a):
        return a

    assert Definitions([a, b]).deps["b"] == ("a",)


def test_parameter_naming_no_asset():
    @asset
    def orders():
        return 1

    @asset
    def report(ordrs):
        return ordrs

    with pytest.raises(MissingDependencyError) as info:
        Definitions([orders, report])
    assert "report" in info.value.message and "ordrs" in info.value.message
    assert info.value.hint == "did you mean 'orders'?"
    assert info.value.exit_code == 2


def test_parameter_with_a_default_is_a_plain_argument():
    @asset
    def report(scale=2):
        return scale

    assert Definitions([report]).deps["report"] == ()


def test_deps_naming_no_asset():
    @asset(deps=["missing"])
    def a():
        return 1

    with pytest.raises(MissingDependencyError) as info:
        Definitions([a])
    assert "missing" in info.value.message and "'a'" in info.value.message


def test_duplicate_keys_name_both_functions():
    @asset
    def orders():
        return 1

    @asset(name="orders")
    def other():
        return 2

    with pytest.raises(DuplicateKeyError) as info:
        Definitions([orders, other])
    assert "orders" in info.value.message and "other" in info.value.message
    assert Definitions([orders, orders]).assets == {"orders": orders}  # the same object twice is fine


def test_self_reference_and_varargs_are_rejected():
    @asset
    def loop(loop):
        return loop

    with pytest.raises(DefinitionError):
        Definitions([loop])
    with pytest.raises(DefinitionError, match="args"):
        @asset
        def star(*inputs):
            return inputs


@pytest.mark.parametrize("key", ["", "a b", "a//b", "/a", "a/", "1abc", "ü"])
def test_invalid_keys(key):
    with pytest.raises(DefinitionError):
        validate_key(key)


@pytest.mark.parametrize("key", ["a", "sales/orders", "a.b-c_d", "_x/y2"])
def test_valid_keys(key):
    assert validate_key(key) == key


def test_not_an_asset_in_definitions():
    with pytest.raises(DefinitionError, match="not an @asset"):
        Definitions([lambda: 1])


def test_unknown_io_manager_is_rejected_when_the_project_loads(project):
    project.pipeline("""
        from datamake import asset

        @asset(io_manager="parquet")
        def t():
            return 1
    """)
    proc = project.run("status")
    assert proc.returncode == 2
    assert "asset 't': unknown io_manager 'parquet'" in proc.stderr and "Traceback" not in proc.stderr


def test_definitions_from_module_takes_defs_or_every_module_level_asset():
    @asset
    def a():
        return 1

    @asset
    def b(a):
        return a

    module = types.ModuleType("pipeline_like")
    module.a, module.b, module.both = a, b, [a, b]
    module.helper = lambda: None
    defs = definitions_from_module(module)
    assert sorted(defs.assets) == ["a", "b"] and len(defs) == 2
    module.defs = Definitions([a])
    assert definitions_from_module(module) is module.defs


def test_an_asset_is_a_complete_frozen_definition():
    """@asset builds its AssetDef without the dataclass __init__ (start-up time): every field is there, with
    its default when not given, replace() works and the definition cannot be changed in place."""
    import dataclasses

    @asset(group="g", metadata={"owner": "me"})
    def orders(raw):
        """The orders."""
        return raw

    assert {f.name for f in dataclasses.fields(orders)} <= set(vars(orders))
    assert (orders.key, orders.params, orders.group, orders.metadata, orders.description, orders.goal,
            orders.tags, orders.retries) == ("orders", ("raw",), "g", {"owner": "me"}, "The orders.", None, {}, 0)
    assert dataclasses.replace(orders, group="h").group == "h" and orders(5) == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        orders.group = "other"
