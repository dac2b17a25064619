"""A cluster's theoretical maximum: the largest set of accelerators in one datacenter,
transitively connected by networking that satisfies the threshold, at a given reading.

Groups are the nodes of a graph. A group's internal network counts when its `network_gbps`
satisfies the threshold; otherwise it brings only one node of accelerators to any component.
Links join two groups of the same datacenter when their `gbps` satisfies the threshold. An
unknown figure is taken both ways: `low` treats it as not satisfying, `high` as satisfying.
"""

from __future__ import annotations

import math
from typing import Any

from .exact import exact, plain
from .formatting import formula_number
from .quantities import Quantity, accelerator_peak

OPERATORS = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
}


def _satisfies(value: float | None, operator: str, threshold: float, *, optimistic: bool) -> bool:
    if value is None:
        return optimistic
    return OPERATORS[operator](exact(value), exact(threshold))


def _find(parent: list[int], index: int) -> int:
    while parent[index] != index:
        parent[index] = parent[parent[index]]
        index = parent[index]
    return index


def _components(groups: list[dict], links: list[dict], *, operator: str, threshold: float,
                optimistic: bool) -> list[list[int]]:
    index_of = {group.get("name"): i for i, group in enumerate(groups)}
    parent = list(range(len(groups)))
    for link in links:
        a, b = index_of.get(link.get("from")), index_of.get(link.get("to"))
        if a is None or b is None:
            continue
        dc_a, dc_b = groups[a].get("datacenter"), groups[b].get("datacenter")
        same_dc = dc_a == dc_b if dc_a is not None and dc_b is not None else optimistic
        if same_dc and _satisfies(link.get("gbps"), operator, threshold, optimistic=optimistic):
            parent[_find(parent, a)] = _find(parent, b)
    members: dict[int, list[int]] = {}
    for i in range(len(groups)):
        members.setdefault(_find(parent, i), []).append(i)
    return list(members.values())


def cluster_peak_ops_per_second(cluster: dict[str, Any], *, network_threshold_gbps: float,
                                network_operator: str, reading: str,
                                accelerators: dict[str, Any]) -> Quantity:
    """Largest transitively connected component's summed peak ops/s at `reading`."""
    name, unit = "cluster_peak_ops_per_second", "ops_per_second"
    groups = cluster.get("groups") or []
    links = cluster.get("links") or []
    missing: list[str] = []
    notes: list[str] = []
    peaks: list[float | None] = []
    for i, group in enumerate(groups):
        path = f"clusters.groups[{i}]"
        peak, _used, note = accelerator_peak(group.get("accelerator"), reading=reading, accelerators=accelerators,
                                             own=group.get("peak_ops_per_second"))
        if note:
            notes.append(f"group {group.get('name')}: {note}")
        if peak is None:
            slug = group.get("accelerator")
            missing.append(f"accelerators.{slug}.{reading}" if slug else f"{path}.accelerator")
        if group.get("accelerator_count") is None:
            missing.append(f"{path}.accelerator_count")
        if group.get("network_gbps") is None:
            missing.append(f"{path}.network_gbps")
        peaks.append(exact(peak))
    named = {group.get("name") for group in groups}
    linked = set()
    for j, link in enumerate(links):
        if link.get("from") not in named or link.get("to") not in named:
            notes.append(f"link {j} joins an unknown group ({link.get('from')} - {link.get('to')}): ignored")
            continue
        linked.update((link["from"], link["to"]))
        if link.get("gbps") is None:
            missing.append(f"clusters.links[{j}].gbps")
    for i, group in enumerate(groups):
        if group.get("datacenter") is None and group.get("name") in linked:
            missing.append(f"clusters.groups[{i}].datacenter")

    def contribution(i: int, optimistic: bool) -> tuple[float, str]:
        group = groups[i]
        count = group.get("accelerator_count")
        internal = _satisfies(group.get("network_gbps"), network_operator, network_threshold_gbps,
                              optimistic=optimistic)
        if count is None:
            return (math.inf if optimistic else 0), "count unknown"
        if not internal:
            per_node = group.get("accelerators_per_node") or 1
            count, why = min(per_node, count), f"one node: network {formula_number(group.get('network_gbps'))} Gbit/s"
        else:
            why = ""
        peak = peaks[i]
        if peak is None:
            return (math.inf if optimistic else 0), "peak unknown"
        return exact(count) * peak, f"{group.get('name')}: {formula_number(count)} × {formula_number(peak)}" + (f" ({why})" if why else "")

    def best(optimistic: bool) -> tuple[float, list[int], list[str]]:
        top: tuple[float, list[int], list[str]] = (0, [], [])
        for component in _components(groups, links, operator=network_operator,
                                     threshold=network_threshold_gbps, optimistic=optimistic):
            parts = [contribution(i, optimistic) for i in component]
            total = sum(part[0] for part in parts)
            if total > top[0] or not top[1]:
                top = (total, component, [part[1] for part in parts])
        return top

    low, component, terms = best(False)
    high = best(True)[0] if missing else low
    formula = (" + ".join(terms) or "no groups") + f" = {formula_number(low)} ops/s ({reading}, network {network_operator} "
    formula += f"{formula_number(network_threshold_gbps)} Gbit/s, one datacenter)"
    if high != low:
        formula += f"; with the unknown figures taken as satisfying: {formula_number(high)} ops/s"
    kinds: dict[str, float] = {}
    for i in component:
        slug = groups[i].get("accelerator") or f"group:{groups[i].get('name')}"
        kinds[slug] = kinds.get(slug, 0) + (groups[i].get("accelerator_count") or 0)  # only to name the main kind
    inputs = {
        "reading": reading, "network_threshold_gbps": plain(exact(network_threshold_gbps)), "network_operator": network_operator,
        "component": [groups[i].get("name") for i in component],
        "component_accelerator": max(kinds, key=kinds.get) if kinds else None,
    }
    low, high = exact(low), exact(high)
    return Quantity(name, low, low, None if math.isinf(high) else high, unit, "cluster-graph", formula,
                    inputs=inputs, missing=missing, notes=notes)
