"""The dataset written out (JSONL or Parquet, ``kgenrich dataset --out``) and the counts
``kgenrich dataset`` prints."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .errors import KgenrichError
from .records import ArtifactRecord
from .task_types import Task


def write_records(records: list[ArtifactRecord], out: Path, tasks: list[Task]) -> str:
    """Write records as JSONL or Parquet (by suffix); returns the format written."""
    out = Path(out)
    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    if suffix in (".jsonl", ".json", ".ndjson"):
        with tmp.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        fmt = "jsonl"
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {
            "iri": [r.iri for r in records],
            "graph": [r.graph for r in records],
            "museum": [r.museum for r in records],
            "texts": [[{"text": t, "lang": lang} for t, lang in r.texts] for r in records],
            "text_fields": [[{"field": k, "text": t} for k, ts in sorted(r.text_fields.items()) for t in ts]
                            for r in records],
            "images": [r.images for r in records],
            "image_nodes": [r.image_nodes for r in records],
            "literals": [[{"property": k, "value": v} for k, vs in sorted(r.literals.items()) for v in vs]
                         for r in records],
        }
        for task in tasks:
            columns[f"{task.name}"] = [r.labels.get(task.name) for r in records]
            columns[f"{task.name}_values"] = [r.values.get(task.name, []) for r in records]
            columns[f"{task.name}_subject"] = [r.subjects.get(task.name) for r in records]
        schema_fields = [
            ("iri", pa.string()), ("graph", pa.string()), ("museum", pa.string()),
            ("texts", pa.list_(pa.struct([("text", pa.string()), ("lang", pa.string())]))),
            ("text_fields", pa.list_(pa.struct([("field", pa.string()), ("text", pa.string())]))),
            ("images", pa.list_(pa.string())), ("image_nodes", pa.list_(pa.string())),
            ("literals", pa.list_(pa.struct([("property", pa.string()), ("value", pa.string())]))),
        ]
        for task in tasks:
            schema_fields += [(task.name, pa.string()), (f"{task.name}_values", pa.list_(pa.string())),
                              (f"{task.name}_subject", pa.string())]
        table = pa.table(columns, schema=pa.schema(schema_fields))
        pq.write_table(table, tmp)
        fmt = "parquet"
    else:
        raise KgenrichError(f"{out}: unknown dataset format '{suffix}' (use .jsonl or .parquet)")
    # Written to a temporary name first, so an interrupted run never leaves half a file under the real name.
    tmp.replace(out)
    return fmt


def summary(records: list[ArtifactRecord], tasks: list[Task]) -> dict:
    """Counts for `kgenrich dataset`: artifacts, texts by language, images, labelled/gaps per task."""
    languages = Counter(lang or "none" for r in records for _, lang in r.texts)
    return {
        "artifacts": len(records),
        "graphs": dict(Counter(r.graph for r in records)),
        "with_text": sum(1 for r in records if r.texts),
        "with_image": sum(1 for r in records if r.images),
        "text_languages": dict(sorted(languages.items())),
        "tasks": {
            t.name: {
                "labelled": sum(1 for r in records if r.labels.get(t.name)),
                "asserted": sum(1 for r in records if not r.is_gap(t.name)),
                "gaps": sum(1 for r in records if r.is_gap(t.name)),
            }
            for t in tasks
        },
    }
