"""Stage 3: label groups through SPARQL.

Each task's asserted values are rolled up to label groups by the rule its
definition names (kge:grouping): thesaurus collections (skos:member, through
skos:broader), GeoNames countries, or centuries (directly or through a
period's time:intervalIn).  The mapping of values to groups is asked of the
store, for the values that occur only.  Supports count artifacts; an artifact
whose values touch several groups is counted for the group with the largest
support (so that supports add up to the labelled artifacts, as in SILKNOW's
single-label setting).  Groups below the task's minimum support are reported
as dropped; values that map to no group are counted as unmapped.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable

from rdflib import URIRef

from . import sparql
from .records import ArtifactRecord, Group, Task, TaskLabels
from .store import Store

# Values are bound into mapping queries in chunks, to keep query texts small.
_VALUE_CHUNK = 500


def _local_name(iri: str) -> str:
    return iri.rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def _chunks(items: list, size: int = _VALUE_CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _shortest(labels: Iterable[str]) -> str | None:
    labels = sorted(set(labels), key=lambda s: (len(s), s))
    return labels[0] if labels else None


class _GroupInfo:
    """What the mapping queries tell about a group before supports are counted."""

    def __init__(self, gid: str):
        self.id = gid
        self.labels: set[str] = set()
        self.candidates: Counter = Counter()  # representative concept candidates -> preference
        self.members: set[str] = set()


def _map_collection(store: Store, task: Task, values: list[str]):
    mapping: dict[str, list[str]] = defaultdict(list)
    infos: dict[str, _GroupInfo] = {}
    facet = URIRef(task.facet)
    for chunk in _chunks(values):
        rows = store.select(sparql.prepare("group_map_collection", values=[URIRef(v) for v in chunk], facet=facet))
        for row in rows:
            gid = _local_name(str(row["group"]))
            if gid not in mapping[str(row["value"])]:
                mapping[str(row["value"])].append(gid)
    member_labels: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for row in store.select(sparql.prepare("group_collections", facet=facet)):
        gid = _local_name(str(row["group"]))
        info = infos.setdefault(gid, _GroupInfo(gid))
        if row.get("groupLabel") is not None:
            info.labels.add(str(row["groupLabel"]))
        if row.get("member") is not None:
            labels = member_labels[gid][str(row["member"])]  # a member without a label is still a candidate
            if row.get("memberLabel") is not None:
                labels.add(str(row["memberLabel"]).lower())
    for gid, members in member_labels.items():
        info = infos[gid]
        group_labels = {label.lower() for label in info.labels} | {gid.replace("_", " ").lower()}
        for member, labels in members.items():
            # A direct member named like the group ("Animal fibre" in "animal fibre") represents it best.
            info.candidates[member] += 1000 if labels & group_labels else 0
    return mapping, infos


def _map_country(store: Store, task: Task, values: list[str]):
    mapping: dict[str, list[str]] = defaultdict(list)
    infos: dict[str, _GroupInfo] = {}
    for chunk in _chunks(values):
        for row in store.select(sparql.prepare("group_map_country", values=[URIRef(v) for v in chunk])):
            code = str(row["code"]).strip().upper()
            if not code:
                continue
            info = infos.setdefault(code, _GroupInfo(code))
            if code not in mapping[str(row["value"])]:
                mapping[str(row["value"])].append(code)
            country = str(row["country"])
            if row.get("countryName") is not None:
                info.labels.add(str(row["countryName"]))
            # An independent political entity (GeoNames A.PCL*) is the country itself.
            is_country = row.get("featureCode") is not None and "PCL" in str(row["featureCode"])
            info.candidates[country] += 1000 if is_country else 0
    return mapping, infos


def _map_century(store: Store, task: Task, values: list[str]):
    mapping: dict[str, list[str]] = defaultdict(list)
    infos: dict[str, _GroupInfo] = {}
    for chunk in _chunks(values):
        rows = store.select(sparql.prepare("group_map_century", values=[URIRef(v) for v in chunk],
                                           groupClass=URIRef(task.group_class)))
        for row in rows:
            century = str(row["century"])
            gid = _local_name(century)
            info = infos.setdefault(gid, _GroupInfo(gid))
            if gid not in mapping[str(row["value"])]:
                mapping[str(row["value"])].append(gid)
            if row.get("label") is not None:
                info.labels.add(str(row["label"]))
            info.candidates[century] += 1000
    return mapping, infos


_MAPPERS = {"collection": _map_collection, "country": _map_country, "century": _map_century}


def task_label_groups(store: Store, task: Task, records: list[ArtifactRecord]) -> tuple[TaskLabels, dict[str, list[str]]]:
    """The label groups of one task over the given raw records, and the value -> groups map."""
    values = sorted({v for r in records for v in r.values.get(task.name, [])})
    mapping, infos = _MAPPERS[task.grouping](store, task, values)

    # Pass 1: how many artifacts touch each group; pass 2: each artifact to its best-supported group.
    touched: Counter = Counter()
    for record in records:
        for gid in {g for v in record.values.get(task.name, []) for g in mapping.get(v, [])}:
            touched[gid] += 1
    support: Counter = Counter()
    member_use: dict[str, Counter] = defaultdict(Counter)
    unmapped = 0
    unmapped_values: set[str] = set()
    for record in records:
        vals = record.values.get(task.name, [])
        if not vals:
            continue
        groups = {g for v in vals for g in mapping.get(v, [])}
        unmapped_values.update(v for v in vals if not mapping.get(v))
        if not groups:
            unmapped += 1
            continue
        best = sorted(groups, key=lambda g: (-touched[g], g))[0]
        support[best] += 1
        for v in vals:
            if best in mapping.get(v, []):
                member_use[best][v] += 1

    kept: list[Group] = []
    dropped: list[Group] = []
    for gid in sorted(set(support) | {g for g in touched}):
        info = infos.get(gid) or _GroupInfo(gid)
        # Representative: the preferred candidate, then the most used value of the group, then any member.
        candidates = Counter(info.candidates)
        for value, n in member_use[gid].items():
            if value in candidates:
                candidates[value] += n
        if candidates:
            concept = sorted(candidates, key=lambda c: (-candidates[c], c))[0]
        elif member_use[gid]:
            concept = sorted(member_use[gid], key=lambda c: (-member_use[gid][c], c))[0]
        else:
            concept = ""
        group = Group(
            id=gid,
            label=_shortest(info.labels) or gid.replace("_", " "),
            concept=concept,
            members=sorted(member_use[gid]),
            support=support[gid],
        )
        (kept if group.support >= max(1, task.min_support) else dropped).append(group)
    labels = TaskLabels(task=task, groups=kept, dropped=dropped, unmapped=unmapped,
                        unmapped_values=sorted(unmapped_values))
    return labels, dict(mapping)


def compute_label_groups(store: Store, tasks: list[Task], records: list[ArtifactRecord]):
    """Label groups of every task over raw records: (labels by task, value->groups by task)."""
    labels: dict[str, TaskLabels] = {}
    value_groups: dict[str, dict[str, list[str]]] = {}
    for task in tasks:
        labels[task.name], value_groups[task.name] = task_label_groups(store, task, records)
    return labels, value_groups


MAX_ANCESTOR_DEPTH = 20  # steps climbed at most (a cycle in the hierarchy must not loop forever)


def value_ancestors(store: Store, values: Iterable[str]) -> dict[str, list[str]]:
    """value -> its broader concepts, transitively (queries/value_parents.rq, one level per round)."""
    parents: dict[str, set[str]] = {}
    frontier = sorted(set(values))
    for _ in range(MAX_ANCESTOR_DEPTH):
        if not frontier:
            break
        found: dict[str, set[str]] = {v: set() for v in frontier}
        for chunk in _chunks(frontier):
            for row in store.select(sparql.prepare("value_parents", values=[URIRef(v) for v in chunk])):
                found[str(row["value"])].add(str(row["parent"]))
        parents.update(found)
        frontier = sorted({p for ps in found.values() for p in ps} - set(parents))
    out: dict[str, list[str]] = {}
    for value in sorted(set(values)):
        seen: set[str] = set()
        stack = list(parents.get(value, ()))
        while stack:
            node = stack.pop()
            if node not in seen and node != value:
                seen.add(node)
                stack.extend(parents.get(node, ()))
        if seen:
            out[value] = sorted(seen)
    return out


def assign_ancestors(records: list[ArtifactRecord], tasks: list[Task], ancestors: dict[str, list[str]]) -> None:
    """Each record's ``ancestors[task]``: the broader concepts of its values for the task."""
    for record in records:
        record.ancestors = {
            t.name: sorted({a for v in record.values.get(t.name, []) for a in ancestors.get(v, ())})
            for t in tasks if record.values.get(t.name)}


def labels_json(labels: dict[str, TaskLabels]) -> dict:
    """The `kgenrich labels --json` document."""
    tasks = []
    for name, tl in labels.items():
        tasks.append({
            "task": name,
            "property": tl.task.property,
            "grouping": tl.task.grouping,
            "min_support": tl.task.min_support,
            "labelled": sum(g.support for g in tl.groups),
            "groups": [
                {"id": g.id, "label": g.label, "concept": g.concept, "members": g.members, "support": g.support}
                for g in tl.groups
            ],
            "dropped": [{"id": g.id, "label": g.label, "support": g.support} for g in tl.dropped],
            "unmapped": tl.unmapped,
            "unmapped_values": tl.unmapped_values[:50],
        })
    return {"tasks": tasks}
