"""Building DAGs: outputs as references, fan-out/fan-in, conditions, parameters, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import loopline as ll
from loopline.errors import InvalidInput, NotFound
from loopline.pipelines import DAG, Node
from loopline.pipelines._dag import Ref
from tests.pipelines import flows


def test_a_pipeline_builds_its_dag_from_step_calls() -> None:
    dag = flows.training.dag
    assert dag.order == ("load", "split", "train", "evaluate", "ship")
    assert dag.node("split").outputs == ("train", "test")
    assert dag.node("evaluate").outputs == ("output_0", "output_1")
    assert dag.node("ship").conditions[0].ref == Ref("evaluate", 1)
    assert [(p.name, p.type, p.default) for p in dag.params] == [
        ("n", "int", 10),
        ("lr", "float", 0.1),
    ]


def test_fan_out_and_fan_in_name_repeated_steps() -> None:
    dag = flows.fan.dag
    assert dag.order == ("square", "square_2", "square_3", "square_4", "total")
    assert dag.node("total").upstream() == {"square", "square_2", "square_3", "square_4"}


def test_a_cycle_is_refused_with_the_loop_named() -> None:
    nodes = (
        Node("a", "m:a", inputs=(("x", Ref("c")),)),
        Node("b", "m:b", inputs=(("x", Ref("a")),)),
        Node("c", "m:c", inputs=(("x", Ref("b")),)),
    )
    with pytest.raises(InvalidInput, match=r"cycle: .*a.*<-"):
        DAG(nodes)


def test_a_step_called_outside_a_pipeline_says_how_to_call_it() -> None:
    with pytest.raises(InvalidInput, match=r"outside a pipeline.*load\.func"):
        flows.load(3)
    assert flows.load.func(3) == [0.0, 1.0, 2.0]


def test_using_a_reference_as_a_value_is_refused() -> None:
    @ll.pipeline
    def branchy(lr: float = 0.1) -> None:
        if lr:
            flows.noop()

    with pytest.raises(InvalidInput, match=r"ll\.when"):
        _ = branchy.dag


def test_unknown_steps_and_params_get_suggestions() -> None:
    with pytest.raises(NotFound, match=r"Did you mean 'train'\?"):
        flows.training.dag.node("trian")
    with pytest.raises(InvalidInput, match="Did you mean 'lr'") as info:
        flows.training.dag.bind({"lrr": 1})
    assert info.value.details == {"field": "lrr"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3), (4, 4), ("0.5", 0.5), (2, 2.0)],
)
def test_parameters_are_coerced_from_text(value: Any, expected: Any) -> None:
    bound = flows.training.dag.bind({"n": value} if isinstance(expected, int) else {"lr": value})
    assert expected in bound.values()


@pytest.mark.parametrize("bad", [{"n": "ten"}, {"n": 1.5}, {"lr": "fast"}, {"n": True}])
def test_parameters_of_the_wrong_type_name_the_field(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as info:
        flows.training.dag.bind(bad)
    assert info.value.details == {"field": next(iter(bad))}


def test_reserved_parameter_names_are_refused() -> None:
    def uses_reserved(cache: bool = True) -> None:
        flows.noop()

    with pytest.raises(InvalidInput, match="reserved"):
        ll.pipeline(uses_reserved)


@given(st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=30))
def test_the_spec_round_trips(parents: list[int]) -> None:
    # Node i reads from an earlier node (a random DAG); the JSON spec gives the same DAG back.
    nodes = [Node("n0", "m:f")]
    for i, p in enumerate(parents, start=1):
        nodes.append(Node(f"n{i}", "m:f", inputs=(("x", Ref(f"n{p % i}")),)))
    dag = DAG(tuple(nodes))
    again = DAG.from_spec(dag.to_spec())
    assert again == dag
    assert again.order == dag.order
