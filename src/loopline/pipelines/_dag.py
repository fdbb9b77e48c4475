"""The DAG of a pipeline as an immutable value: nodes, their inputs, conditions and parameters.

A DAG is built by calling steps inside an ``@ll.pipeline`` function (see ``_sdk``), or read back
from its JSON spec (a published template). Either way it is validated once, here: unique step
names, inputs that name existing outputs and parameters, no cycle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeAlias

from loopline.errors import InvalidInput, NotFound, did_you_mean
from loopline.pipelines._types import InvalidParameter

__all__ = [
    "Ref",
    "ParamInput",
    "ListInput",
    "Constant",
    "Input",
    "Condition",
    "Node",
    "ParamSpec",
    "DAG",
    "PARAM_TYPES",
]


@dataclass(frozen=True, slots=True)
class Ref:
    """Output number ``output`` of step ``step``."""

    step: str
    output: int = 0


@dataclass(frozen=True, slots=True)
class ParamInput:
    """The value of the pipeline parameter ``name``."""

    name: str


@dataclass(frozen=True, slots=True)
class ListInput:
    """A list of inputs, e.g. the outputs of a fan-out gathered into one step (fan-in)."""

    items: tuple[Input, ...]


@dataclass(frozen=True, slots=True)
class Constant:
    """A literal passed to a step inside the pipeline, kept as JSON text (hashable, stable)."""

    json: str

    @property
    def value(self) -> Any:
        return json.loads(self.json)


Input: TypeAlias = Ref | ParamInput | ListInput | Constant


@dataclass(frozen=True, slots=True)
class Condition:
    """Run the node only when output ``ref`` equals ``equals`` (see ``ll.when``)."""

    ref: Ref
    equals: Any = True


@dataclass(frozen=True, slots=True)
class Node:
    """One call of a step in a pipeline."""

    name: str
    step: str  # "module:qualname", for people and for templates
    inputs: tuple[tuple[str, Input], ...] = ()
    conditions: tuple[Condition, ...] = ()
    outputs: tuple[str, ...] = ("output",)
    cache: bool = True
    retries: int = 0
    timeout: float | None = None
    resources: tuple[tuple[str, Any], ...] = ()

    def refs(self) -> list[Ref]:
        """Every upstream output this node reads, conditions included."""
        found: list[Ref] = [c.ref for c in self.conditions]
        for _, value in self.inputs:
            found.extend(_refs_of(value))
        return found

    def upstream(self) -> frozenset[str]:
        return frozenset(r.step for r in self.refs())


def _refs_of(value: Input) -> list[Ref]:
    if isinstance(value, Ref):
        return [value]
    if isinstance(value, ListInput):
        return [r for item in value.items for r in _refs_of(item)]
    return []


def _params_of(value: Input) -> list[str]:
    if isinstance(value, ParamInput):
        return [value.name]
    if isinstance(value, ListInput):
        return [p for item in value.items for p in _params_of(item)]
    return []


PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
    "any": (object,),
}


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """A pipeline parameter, from the pipeline function's signature: the template's form field."""

    name: str
    type: str = "any"
    default: Any = None
    required: bool = True

    def coerce(self, value: Any) -> Any:
        """``value`` checked against the type; text (from a form or the CLI) is converted.

        Raises:
            InvalidInput: with ``details={"field": name}`` when the value does not fit.
        """
        if isinstance(value, str) and self.type not in ("str", "any"):
            value = _parse_text(self.name, self.type, value)
        allowed = PARAM_TYPES[self.type]
        ok = isinstance(value, allowed) and not (self.type in ("int", "float") and value is True)
        if not ok or (self.type in ("int", "float") and isinstance(value, bool)):
            raise InvalidParameter(
                f"Parameter {self.name!r} must be {self.type}, not {type(value).__name__} "
                f"({value!r}).",
                details={"field": self.name},
            )
        if self.type == "float":
            return float(value)
        if self.type == "list":
            return list(value)
        return value


def _parse_text(name: str, kind: str, text: str) -> Any:
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError(text)
        return json.loads(text)
    except ValueError as exc:
        raise InvalidParameter(
            f"Parameter {name!r} must be {kind}; {text!r} is not.", details={"field": name}
        ) from exc


@dataclass(frozen=True)
class DAG:
    """Steps and the edges between them; immutable and validated when made.

    Example:
        >>> dag = DAG((Node("load", "m:load"), Node("train", "m:train",
        ...            inputs=(("data", Ref("load")),))))
        >>> dag.order
        ('load', 'train')
    """

    nodes: tuple[Node, ...]
    params: tuple[ParamSpec, ...] = ()

    def __post_init__(self) -> None:
        names = [n.name for n in self.nodes]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise InvalidInput(f"Two steps of the pipeline are called {name!r}.")
            seen.add(name)
        params = {p.name for p in self.params}
        for node in self.nodes:
            for ref in node.refs():
                if ref.step not in seen:
                    raise InvalidInput(
                        f"Step {node.name!r} reads from {ref.step!r}, which is not a step of "
                        f"this pipeline.{did_you_mean(ref.step, names)}"
                    )
                count = len(self.node(ref.step).outputs)
                if not 0 <= ref.output < count:
                    raise InvalidInput(
                        f"Step {node.name!r} reads output {ref.output} of {ref.step!r}, which "
                        f"has {count} output(s)."
                    )
            for _, value in node.inputs:
                for param in _params_of(value):
                    if param not in params:
                        raise InvalidInput(
                            f"Step {node.name!r} reads parameter {param!r}, which the pipeline "
                            f"does not have.{did_you_mean(param, params)}"
                        )
        _ = self.order  # raises on a cycle

    @cached_property
    def _by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    def node(self, name: str) -> Node:
        """The node called ``name``; NotFound with a suggestion otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            raise NotFound(
                f"The pipeline has no step {name!r}.{did_you_mean(name, self._by_name)}"
            ) from None

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Step names in a topological order (ties kept in the order steps were added)."""
        indegree = {n.name: len(n.upstream()) for n in self.nodes}
        done: list[str] = []
        ready = [n.name for n in self.nodes if indegree[n.name] == 0]
        downstream = self._downstream
        while ready:
            name = ready.pop(0)
            done.append(name)
            for child in downstream[name]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        if len(done) != len(self.nodes):
            raise InvalidInput(
                f"The steps form a cycle: {self._a_cycle(set(done))}. A pipeline "
                "is a DAG: break the cycle by removing one of these inputs."
            )
        return tuple(done)

    @cached_property
    def _downstream(self) -> dict[str, tuple[str, ...]]:
        children: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        for node in self.nodes:
            for parent in sorted(node.upstream()):
                if parent in children:
                    children[parent].append(node.name)
        return {k: tuple(v) for k, v in children.items()}

    def _a_cycle(self, acyclic: set[str]) -> str:
        # Walk upstream from any node left over until a name repeats: that loop is a cycle.
        start = next(n.name for n in self.nodes if n.name not in acyclic)
        path = [start]
        while True:
            parent = sorted(p for p in self.node(path[-1]).upstream() if p not in acyclic)[0]
            if parent in path:
                loop = [*path[path.index(parent) :], parent]
                return " <- ".join(loop)
            path.append(parent)

    def downstream(self, name: str) -> tuple[str, ...]:
        """The steps that read ``name``'s outputs directly."""
        self.node(name)
        return self._downstream[name]

    def descendants(self, names: Iterable[str]) -> frozenset[str]:
        """``names`` and every step downstream of them, transitively."""
        found: set[str] = set()
        todo = [self.node(n).name for n in names]
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self._downstream[name])
        return frozenset(found)

    def ancestors(self, names: Iterable[str]) -> frozenset[str]:
        """Every step upstream of ``names``, transitively (``names`` themselves excluded)."""
        found: set[str] = set()
        todo = [p for n in names for p in self.node(n).upstream()]
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(self.node(name).upstream())
        return frozenset(found)

    def param(self, name: str) -> ParamSpec:
        for spec in self.params:
            if spec.name == name:
                return spec
        names = [p.name for p in self.params]
        raise InvalidParameter(
            f"The pipeline has no parameter {name!r}.{did_you_mean(name, names)}",
            details={"field": name},
        )

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Parameter values checked and completed with defaults; unknown or missing ones raise
        InvalidInput naming the field."""
        bound: dict[str, Any] = {}
        for name, value in values.items():
            bound[name] = self.param(name).coerce(value)
        for spec in self.params:
            if spec.name not in bound:
                if spec.required:
                    raise InvalidParameter(
                        f"Parameter {spec.name!r} is required (it has no default).",
                        details={"field": spec.name},
                    )
                bound[spec.name] = spec.default
        return bound

    # -- the JSON spec (stored with every run and template) --

    def to_spec(self) -> dict[str, Any]:
        return {
            "params": [
                {"name": p.name, "type": p.type, "default": p.default, "required": p.required}
                for p in self.params
            ],
            "steps": [_node_spec(n) for n in self.nodes],
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> DAG:
        try:
            params = tuple(ParamSpec(**p) for p in spec.get("params", ()))
            nodes = tuple(_node_from_spec(s) for s in spec["steps"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"Not a pipeline DAG spec: {exc!r}.") from exc
        return cls(nodes, params)


def _input_spec(value: Input) -> dict[str, Any]:
    if isinstance(value, Ref):
        return {"ref": [value.step, value.output]}
    if isinstance(value, ParamInput):
        return {"param": value.name}
    if isinstance(value, ListInput):
        return {"list": [_input_spec(v) for v in value.items]}
    return {"value": value.value}


def _input_from_spec(spec: Mapping[str, Any]) -> Input:
    if "ref" in spec:
        step, output = spec["ref"]
        return Ref(str(step), int(output))
    if "param" in spec:
        return ParamInput(str(spec["param"]))
    if "list" in spec:
        return ListInput(tuple(_input_from_spec(v) for v in spec["list"]))
    return Constant(json.dumps(spec["value"], sort_keys=True))


def _node_spec(node: Node) -> dict[str, Any]:
    return {
        "name": node.name,
        "step": node.step,
        "inputs": {arg: _input_spec(v) for arg, v in node.inputs},
        "conditions": [
            {"ref": [c.ref.step, c.ref.output], "equals": c.equals} for c in node.conditions
        ],
        "outputs": list(node.outputs),
        "cache": node.cache,
        "retries": node.retries,
        "timeout": node.timeout,
        "resources": dict(node.resources),
    }


def _node_from_spec(spec: Mapping[str, Any]) -> Node:
    return Node(
        name=str(spec["name"]),
        step=str(spec["step"]),
        inputs=tuple((str(k), _input_from_spec(v)) for k, v in spec.get("inputs", {}).items()),
        conditions=tuple(
            Condition(Ref(str(c["ref"][0]), int(c["ref"][1])), c.get("equals", True))
            for c in spec.get("conditions", ())
        ),
        outputs=tuple(spec.get("outputs", ("output",))),
        cache=bool(spec.get("cache", True)),
        retries=int(spec.get("retries", 0)),
        timeout=spec.get("timeout"),
        resources=tuple(sorted(dict(spec.get("resources", {})).items())),
    )
