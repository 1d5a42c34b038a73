"""The label search for corrections: a task's values whose label contains some text (any language)."""

from __future__ import annotations

from rdflib import URIRef

from .. import sparql
from ..task_types import Task
from .checking import value_groups
from .collection import Collection, CollectionReader, fold

_SEARCH_LIMIT = 200_000  # labels read per task for the label search (a thesaurus has far fewer)


class LabelSearch(CollectionReader):
    """The label search a correction picks its value with."""

    def search(self, task_name: str, text: str, limit: int = 20) -> list[dict]:
        """The task's values whose label (any language) contains the text, ignoring case and
        accents; the best label of each, with every language that gives it that label."""
        c = self.collection()
        task = c.task(task_name)
        needle = fold((text or "").strip())
        if len(needle) < 2 or task.name not in c.labels:
            return []
        candidates = self._candidates(c, task)
        best: dict[str, tuple] = {}
        for concept, label, lang, folded, gid in candidates:
            if needle not in folded:
                continue
            key = (not folded.startswith(needle), folded != needle, len(label), label)
            found = best.get(concept)
            if found is None or key < found[0]:
                best[concept] = (key, label, {lang}, gid)
            elif key[3] == found[1]:
                found[2].add(lang)
        groups = {g.id: g for g in c.labels[task.name].groups}
        out = [{"concept": concept, "label": label, "lang": ", ".join(sorted(x for x in langs if x)),
                "langs": sorted(x for x in langs if x), "group": gid, "group_label": groups[gid].label}
               for concept, (key, label, langs, gid) in best.items()]
        out.sort(key=lambda e: (best[e["concept"]][0], e["concept"]))
        return out[:limit]

    def _candidates(self, c: Collection, task: Task) -> list[tuple[str, str, str, str, str]]:
        """(concept, label, language, folded label, group) of every value of the task (cached)."""
        cached = self._search.get(task.name)
        if cached is not None:
            return cached
        if task.grouping == "collection":
            assert task.facet is not None  # the task definitions' check: a collection grouping names its facet
            query = sparql.prepare("review_search_collection", facet=URIRef(task.facet), limit=_SEARCH_LIMIT)
        elif task.grouping == "country":
            query = sparql.prepare("review_search_country", limit=_SEARCH_LIMIT)
        else:
            assert task.group_class is not None  # the task definitions' check: a century grouping names its class
            query = sparql.prepare("review_search_century", groupClass=URIRef(task.group_class), limit=_SEARCH_LIMIT)
        rows = [(str(r["concept"]), r["label"]) for r in self.store.select(query)]
        mapped = value_groups(self.store, c.labels[task.name], sorted({concept for concept, _ in rows}))
        out = []
        for concept, label in rows:
            gid = mapped.get(concept)
            if gid is None:
                continue  # not one of the task's values
            lang = (getattr(label, "language", None) or "").lower()
            out.append((concept, str(label), lang, fold(str(label)), gid))
        self._search[task.name] = out
        return out
