"""A project's definitions as one value, and the resolution of ``"view:feature"`` references."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loopline.errors import InvalidInput, NotFound, did_you_mean
from loopline.features._definitions import (
    Definition,
    Entity,
    FeatureView,
    OnDemandFeatureView,
    definition_from_spec,
)
from loopline.features._types import FeatureType

__all__ = ["Catalog", "FeaturePlan", "Output"]


@dataclass(frozen=True, slots=True)
class Output:
    """One requested feature: where it comes from and the column it becomes."""

    view: str
    feature: str
    column: str
    dtype: FeatureType


@dataclass(frozen=True)
class FeaturePlan:
    """What a list of feature references needs: batch views (with the features read from
    each), on-demand views to run afterwards, and the output columns in the order asked."""

    outputs: tuple[Output, ...]
    batch: dict[str, tuple[FeatureView, tuple[str, ...]]]
    on_demand: tuple[OnDemandFeatureView, ...]
    full_feature_names: bool

    @property
    def join_keys(self) -> tuple[str, ...]:
        keys: list[str] = []
        for view, _ in self.batch.values():
            keys.extend(k for k in view.join_keys if k not in keys)
        return tuple(keys)

    @property
    def request_fields(self) -> tuple[str, ...]:
        names: list[str] = []
        for odfv in self.on_demand:
            for source in odfv.request_sources:
                names.extend(f.name for f in source.schema if f.name not in names)
        return tuple(names)

    def column_for(self, view: str, feature: str) -> str:
        return f"{view}__{feature}" if self.full_feature_names else feature


@dataclass(frozen=True)
class Catalog:
    """Entities and views of one project, by name.

    Example:
        >>> catalog = Catalog.of([driver, driver_stats])
        >>> catalog.plan(["driver_stats:conv_rate"]).join_keys
        ('driver_id',)
    """

    entities: dict[str, Entity] = field(default_factory=dict)
    views: dict[str, FeatureView | OnDemandFeatureView] = field(default_factory=dict)

    @classmethod
    def of(cls, definitions: Iterable[Definition]) -> Catalog:
        catalog = cls()
        for d in definitions:
            if isinstance(d, Entity):
                catalog.entities[d.name] = d
            else:
                catalog.views[d.name] = d
        return catalog

    @classmethod
    def from_specs(cls, specs: Sequence[Mapping[str, Any]]) -> Catalog:
        """Rebuild definitions from registry specs: entities, then views, then on-demand views."""
        entities: dict[str, Entity] = {}
        batch: dict[str, FeatureView] = {}
        views: dict[str, FeatureView | OnDemandFeatureView] = {}

        def order(spec: Mapping[str, Any]) -> int:
            return 0 if spec.get("kind") == "entity" else 1 if spec.get("type") == "batch" else 2

        for spec in sorted(specs, key=order):
            d = definition_from_spec(spec, batch, entities)
            if isinstance(d, Entity):
                entities[d.name] = d
            else:
                views[d.name] = d
                if isinstance(d, FeatureView):
                    batch[d.name] = d
        return cls(entities, views)

    def view(self, name: str) -> FeatureView | OnDemandFeatureView:
        found = self.views.get(name)
        if found is None:
            raise NotFound(
                f"Feature view {name!r} is not defined.{did_you_mean(name, self.views)}"
                + (
                    ""
                    if self.views
                    else " No feature views are applied yet: run "
                    "`loopline features apply FILE` or ll.features.apply([...])."
                )
            )
        return found

    def plan(self, refs: Sequence[str], *, full_feature_names: bool = False) -> FeaturePlan:
        """Resolve ``"view:feature"`` references.

        Raises:
            InvalidInput: a reference is malformed, or two features would get one column name.
            NotFound: a view or feature does not exist (the message names the closest ones).
        """
        if isinstance(refs, str):
            refs = [refs]
        if not refs:
            raise InvalidInput('Ask for at least one feature, like ["driver_stats:conv_rate"].')
        outputs: list[Output] = []
        batch: dict[str, set[str]] = {}
        on_demand: dict[str, OnDemandFeatureView] = {}
        for ref in refs:
            view_name, feature = _split(ref)
            view = self.view(view_name)
            fields = {f.name: f for f in view.features}
            if feature not in fields:
                raise NotFound(
                    f"Feature {ref!r} does not exist: view {view_name!r} has "
                    f"{sorted(fields)}.{did_you_mean(feature, fields)}"
                )
            if isinstance(view, FeatureView):
                batch.setdefault(view.name, set()).add(feature)
            else:
                on_demand[view.name] = view
                for source in view.feature_views:
                    batch.setdefault(source.name, set()).update(f.name for f in source.features)
            column = f"{view_name}__{feature}" if full_feature_names else feature
            outputs.append(Output(view_name, feature, column, fields[feature].dtype))
        columns = [o.column for o in outputs]
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise InvalidInput(
                f"Features {repeated} would be two columns of the same name (asked twice, or "
                f"the same name in two views). Pass full_feature_names=True to name columns "
                f"'view__feature'."
            )
        resolved: dict[str, tuple[FeatureView, tuple[str, ...]]] = {}
        for name, wanted in batch.items():
            view = self.views[name]
            assert isinstance(view, FeatureView)
            resolved[name] = (view, tuple(f.name for f in view.features if f.name in wanted))
        return FeaturePlan(tuple(outputs), resolved, tuple(on_demand.values()), full_feature_names)


def _split(ref: object) -> tuple[str, str]:
    if not isinstance(ref, str) or ref.count(":") != 1 or ref.startswith(":") or ref.endswith(":"):
        raise InvalidInput(
            f"Feature reference {ref!r} is malformed: write 'view:feature', like "
            f"'driver_stats:conv_rate'."
        )
    view, feature = ref.split(":")
    return view, feature
