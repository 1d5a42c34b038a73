"""Stage 3: label groups through SPARQL.

Each task's asserted values are rolled up to label groups by the rule its
definition names (kge:grouping): thesaurus collections (skos:member, through
skos:broader), GeoNames countries, centuries (directly or through a period's
time:intervalIn), each value on its own, values rolled up along a broader path
(to top concepts or a depth), or the century or decade of a span's dates.  The mapping of values to groups is asked of the
store, for the values that occur only.  Supports count artifacts; an artifact
whose values touch several groups is counted for the group with the largest
support (so that supports add up to the labelled artifacts, as in SILKNOW's
single-label setting).  Groups below the task's minimum support are reported
as dropped; values that map to no group are counted as unmapped.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable

from rdflib import Literal, URIRef

from . import sparql
from .namespaces import TIMESPAN_NS
from .records import ArtifactRecord
from .store import Store
from .task_types import Group, Task, TaskLabels

# Values are bound into mapping queries in chunks, to keep query texts small.
_VALUE_CHUNK = 500


def _local_name(iri: str) -> str:
    return iri.rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def _chunks(items: list, size: int = _VALUE_CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _iris(values: Iterable[str]) -> list[str]:
    """The values that are absolute IRIs (a date-grouped task's values are spans, not IRIs)."""
    return [v for v in values if sparql.iri_is_valid(v) and ":" in v and not v[0].isdigit() and v[0] != "?"]


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
    assert task.facet is not None  # a collection grouping has its kge:facet (shapes/tasks.ttl)
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
    assert task.group_class is not None  # a century grouping has its kge:groupClass (shapes/tasks.ttl)
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


def _short_ids(iris: Iterable[str]) -> dict[str, str]:
    """A short, stable id per IRI: its last segment, with a hash of the IRI where two would collide."""
    iris = sorted(set(iris))
    names = Counter(_local_name(i) for i in iris)
    return {i: _local_name(i) if names[_local_name(i)] == 1 and _local_name(i)
            else f"{_local_name(i) or 'value'}~{hashlib.sha1(i.encode('utf-8')).hexdigest()[:6]}" for i in iris}


def _labels_of(store: Store, iris: Iterable[str]) -> dict[str, str]:
    """An English (or untagged) label per concept, skos:prefLabel before rdfs:label, the shortest first."""
    found: dict[str, tuple] = {}
    for chunk in _chunks(_iris(sorted(set(iris)))):
        for row in store.select(sparql.prepare("group_labels", values=[URIRef(v) for v in chunk])):
            label = " ".join(str(row["label"]).split())
            if not label:
                continue
            preferred = row["preferred"]
            assert isinstance(preferred, Literal)  # the query binds it to 1 or 0
            key = (-int(preferred.toPython()), len(label), label)
            value = str(row["value"])
            if value not in found or key < found[value]:
                found[value] = key
    return {v: key[2] for v, key in found.items()}


def _map_value(store: Store, task: Task, values: list[str]):
    """Each value is a group of its own; its label is the concept's label."""
    mapping: dict[str, list[str]] = {}
    infos: dict[str, _GroupInfo] = {}
    values = _iris(values)
    ids = _short_ids(values)
    labels = _labels_of(store, values)
    for value in values:
        gid = ids[value]
        mapping[value] = [gid]
        info = infos.setdefault(gid, _GroupInfo(gid))
        info.candidates[value] += 1000
        if value in labels:
            info.labels.add(labels[value])
    return mapping, infos


def _climb(store: Store, values: list[str], query: str, **bindings) -> dict[str, list[str]]:
    """value -> its parents (one step of ``query``), for the values and everything above them."""
    parents: dict[str, list[str]] = {}
    frontier = sorted(set(_iris(values)))
    for _ in range(MAX_ANCESTOR_DEPTH):
        if not frontier:
            break
        found: dict[str, set[str]] = {v: set() for v in frontier}
        for chunk in _chunks(frontier):
            for row in store.select(sparql.prepare(query, values=[URIRef(v) for v in chunk], **bindings)):
                found[str(row["value"])].add(str(row["parent"]))
        parents.update({v: sorted(ps) for v, ps in found.items()})
        frontier = sorted({p for ps in found.values() for p in ps} - set(parents))
    return parents


def _map_broader(store: Store, task: Task, values: list[str]):
    """Values rolled up along the task's broader path: to the nearest top concept above them (the value
    itself when it is one), or to their ancestor ``depth`` steps below the top of the hierarchy."""
    values = _iris(values)
    parents = _climb(store, values, "value_broader", broader=task.broader_path)
    tops = set(task.top_concepts)

    def group_of(value: str) -> str | None:
        if tops:
            seen, level = {value}, [value]
            while level:
                hit = sorted(v for v in level if v in tops)
                if hit:
                    return hit[0]
                level = sorted({p for v in level for p in parents.get(v, ()) if p not in seen})
                seen.update(level)
            return None
        chain, node = [value], value
        while parents.get(node) and len(chain) <= MAX_ANCESTOR_DEPTH:
            node = parents[node][0]  # several parents: the first, deterministically
            if node in chain:
                break
            chain.append(node)
        chain.reverse()  # top ... value
        depth = int(task.depth or 0)
        return chain[depth] if len(chain) > depth else value

    groups = {v: group_of(v) for v in values}
    concepts = sorted({g for g in groups.values() if g})
    ids = _short_ids(concepts)
    labels = _labels_of(store, concepts)
    mapping: dict[str, list[str]] = {}
    infos: dict[str, _GroupInfo] = {}
    for value, concept in groups.items():
        if concept is None:
            continue
        gid = ids[concept]
        mapping[value] = [gid]
        info = infos.setdefault(gid, _GroupInfo(gid))
        info.candidates[concept] += 1000
        if concept in labels:
            info.labels.add(labels[concept])
    return mapping, infos


# ------------------------------------------------------------------ dates
def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def date_group(year: int, unit: str) -> str:
    """The group id of a year (astronomical numbering: 0 is 1 BCE): century_19 (1801-1900, as the AAT
    counts), century_1_bce, decade_1850 (1850-1859), decade_minus_50."""
    if unit == "century":
        return f"century_{(year - 1) // 100 + 1}" if year >= 1 else f"century_{(-year) // 100 + 1}_bce"
    decade = (year // 10) * 10
    return f"decade_{decade}" if decade >= 0 else f"decade_minus_{-decade}"


def date_group_info(gid: str) -> tuple[str, str, str, str]:
    """(label, concept IRI, first day, last moment) of a date group id, the bounds as xsd:dateTime text."""
    def stamp(year: int, end: bool) -> str:
        sign = "-" if year < 0 else ""
        return f"{sign}{abs(year):04d}-" + ("12-31T23:59:59Z" if end else "01-01T00:00:00Z")

    kind, _, rest = gid.partition("_")
    if kind == "century":
        bce = rest.endswith("_bce")
        n = int(rest[:-4] if bce else rest)
        if bce:  # the nth century BCE: astronomical years -(100n - 1) .. -(100(n - 1))
            first, last = -(100 * n - 1), -(100 * (n - 1))
            return f"{_ordinal(n)} century BCE", f"{TIMESPAN_NS}century/-{n}", stamp(first, False), stamp(last, True)
        return (f"{_ordinal(n)} century", f"{TIMESPAN_NS}century/{n}", stamp((n - 1) * 100 + 1, False),
                stamp(n * 100, True))
    decade = -int(rest[len("minus_"):]) if rest.startswith("minus_") else int(rest)
    label = f"{decade}s" if decade >= 0 else f"{-decade}s BCE"
    return label, f"{TIMESPAN_NS}decade/{decade}", stamp(decade, False), stamp(decade + 9, True)


def date_group_of_concept(iri: str, unit: str) -> str | None:
    """The date group whose time-span kgenrich minted (a value a curator accepted), or None."""
    prefix = f"{TIMESPAN_NS}{unit}/"
    if not iri.startswith(prefix):
        return None
    try:
        n = int(iri[len(prefix):])
    except ValueError:
        return None
    if unit == "century":
        return f"century_{n}" if n > 0 else f"century_{-n}_bce" if n < 0 else None
    return f"decade_{n}" if n >= 0 else f"decade_minus_{-n}"


def _map_date(store: Store, task: Task, values: list[str]):
    """Spans ("1855/1865") to the century or decade both bounds fall into (none when they differ)."""
    unit = task.date_unit or "century"
    mapping: dict[str, list[str]] = {}
    infos: dict[str, _GroupInfo] = {}
    for value in values:
        begin, sep, end = value.partition("/")
        gid = None
        if sep:
            first: str | None
            last: str | None
            try:
                first, last = date_group(int(begin), unit), date_group(int(end), unit)
            except ValueError:  # a bound that is no date ("?")
                first = last = None
            gid = first if first is not None and first == last else None
        else:
            gid = date_group_of_concept(value, unit)
        if gid is None:
            continue
        mapping[value] = [gid]
        if gid not in infos:
            label, concept, _, _ = date_group_info(gid)
            info = infos[gid] = _GroupInfo(gid)
            info.labels.add(label)
            info.candidates[concept] += 1000
    return mapping, infos


_MAPPERS = {"collection": _map_collection, "country": _map_country, "century": _map_century,
            "value": _map_value, "broader": _map_broader, "date": _map_date}


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
    frontier = sorted(set(_iris(values)))
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


def inactive_reason(tl: TaskLabels) -> str:
    """Why a task's label groups cannot train a model, or "" when they can."""
    labelled = sum(g.support for g in tl.groups) + sum(g.support for g in tl.dropped) + tl.unmapped
    if labelled == 0:
        return "no artifact in the store has a value for it"
    if not tl.groups and not tl.dropped:
        return f"none of the {tl.unmapped:,} values falls into a label group"
    if len(tl.groups) < 2:
        n = len(tl.groups)
        return (f"{n} label group{'' if n == 1 else 's'} with at least {tl.task.min_support} labelled artifacts "
                f"(kge:minSupport), two are needed")
    return ""


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
            "active": not inactive_reason(tl),
            "inactive_reason": inactive_reason(tl) or None,
        })
    return {"tasks": tasks}
