"""Tasks from RDF, label groups and dataset extraction through SPARQL."""

import json
import shutil

import pyarrow.parquet as pq
import pytest
from conftest import VOCABULARIES
from helpers import DATA, MINI, SILKNOW_PROFILE, mini_settings

from kgenrich.dataset import iter_records
from kgenrich.dataset_export import write_records
from kgenrich.errors import EmptyGraphError, TaskDefinitionError, TruncatedResult
from kgenrich.labels import labels_json
from kgenrich.pipeline import load_inputs
from kgenrich.resources import ONTOLOGY_DIR
from kgenrich.store.embedded import EmbeddedStore
from kgenrich.store.remote import RemoteStore
from kgenrich.tasks import CONFIG_GRAPH, load_tasks

OBJ = "https://w3id.org/kgenrich/test/object/"


def label_groups(store, tasks, settings=None):
    """The label groups every command counts (pipeline.load_inputs, values only)."""
    return load_inputs(store, settings or mini_settings(), with_inputs=False, tasks=tasks, progress=False).labels


def extract(store, tasks, page_size=None, settings=None):
    """Labelled records as every command reads them (pipeline.load_inputs)."""
    settings = settings or mini_settings()
    if page_size is not None:
        settings.page_size = page_size
    return load_inputs(store, settings, tasks=tasks, profile=SILKNOW_PROFILE, progress=False).records


@pytest.fixture
def mini_store():
    store = EmbeddedStore()
    store.load_file(MINI)
    return store


def test_shipped_tasks_are_silknows(mini_store):
    settings = mini_settings(ontology=[])  # the project's ontology/ directory
    names = [t.name for t in load_tasks(mini_store, settings)]
    assert names == ["material", "technique", "place", "time", "depiction"]


def test_label_groups_of_the_mini_collection(mini_store):
    tasks = load_tasks(mini_store, mini_settings())
    labels = label_groups(mini_store, tasks)
    material = labels["material"]
    assert {g.id: g.support for g in material.groups} == {"animal_fibre": 3, "vegetal_fibre": 1}
    assert material.unmapped == 1 and material.unmapped_values == ["https://w3id.org/kgenrich/test/vocabulary/paper"]
    assert material.group("animal_fibre").concept == "https://w3id.org/kgenrich/test/vocabulary/animal_fibre"
    assert {g.id: g.support for g in labels["technique"].groups} == {"damask": 1, "embroidery": 2}
    place = labels["place"]
    assert {g.id: g.support for g in place.groups} == {"FR": 2, "ES": 1}
    assert place.group("FR").concept == "https://sws.geonames.org/3017382/"  # the country, not Lyon
    time = labels["time"]
    assert {g.id: g.support for g in time.groups} == {"300404511": 1, "300404512": 2}
    assert time.group("300404512").label == "18th century"
    doc = labels_json(labels)
    assert doc["tasks"][0]["task"] == "material" and doc["tasks"][0]["groups"][0]["members"]


def test_dataset_records(mini_store):
    tasks = load_tasks(mini_store, mini_settings())
    records = {r.iri: r for r in extract(mini_store, tasks)}
    assert len(records) == 6
    a1 = records[OBJ + "a1"]
    assert a1.museum == "museum-a"
    assert a1.texts == [('Damasco de seda, "Valencia" > 1700\nsegunda línea', "es")]
    assert a1.images == ["file:///nonexistent/a1.png"]
    assert a1.labels == {"material": "animal_fibre", "technique": "damask", "place": "ES", "time": "300404512",
                         "depiction": None}  # voc:silk is in no depiction group
    assert a1.subjects["material"] == "https://w3id.org/kgenrich/test/production/a1"
    b1 = records[OBJ + "b1"]
    # One image has a location, the other is known only by its resource.
    assert sorted(b1.images) == ["file:///nonexistent/b1a.png", "https://w3id.org/kgenrich/test/image/b1b"]
    assert records[OBJ + "b2"].labels["material"] == "animal_fibre"  # silk + linen: the better-supported group
    assert records[OBJ + "b2"].texts == [("Seda bordada.", "es"), ("Silk, embroidered.", "en")]
    a3 = records[OBJ + "a3"]
    assert a3.labels["material"] is None and not a3.is_gap("material")  # unmapped value: not a gap
    a4 = records[OBJ + "a4"]
    assert a4.is_gap("material") and a4.subjects["material"] is None and a4.texts == [("Broderie de soie, Lyon.", "fr")]


def test_paging_gives_the_same_records(mini_store):
    tasks = load_tasks(mini_store, mini_settings())
    one = [r.to_dict() for r in extract(mini_store, tasks, page_size=1)]
    many = [r.to_dict() for r in extract(mini_store, tasks, page_size=1000)]
    assert one == many


class CuttingStore(EmbeddedStore):
    """An embedded store that, like a capped endpoint, returns at most N rows per SELECT."""

    cap = 2

    def select(self, query):
        return super().select(query)[: self.cap]


def test_a_cut_page_is_an_error_not_fewer_records():
    store = CuttingStore()
    store.load_file(MINI)
    tasks = load_tasks(store, mini_settings())
    with pytest.raises(TruncatedResult):
        list(iter_records(store, tasks, page_size=3, with_inputs=False, progress=False))


def test_dataset_files(mini_store, tmp_path):
    tasks = load_tasks(mini_store, mini_settings())
    records = extract(mini_store, tasks)
    write_records(records, tmp_path / "d.jsonl", tasks)
    lines = (tmp_path / "d.jsonl").read_text().splitlines()
    assert len(lines) == 6 and json.loads(lines[0])["labels"]
    write_records(records, tmp_path / "d.parquet", tasks)
    table = pq.read_table(tmp_path / "d.parquet")
    assert table.num_rows == 6 and "material" in table.column_names and "time_values" in table.column_names
    assert table.column("literals").to_pylist() == [[]] * 6


def test_a_task_added_in_turtle_is_followed_everywhere(mini_store, tmp_path):
    ontology = tmp_path / "ontology"
    ontology.mkdir()
    for name in ("kgenrich.ttl", "crm-core.ttl"):
        shutil.copy(ONTOLOGY_DIR / name, ontology / name)
    shutil.copy(DATA / "mini-tasks.ttl", ontology / "tasks.ttl")
    (ontology / "fibre.ttl").write_text("""
@prefix kge: <https://w3id.org/kgenrich/ontology#> .
@prefix ecrm: <http://erlangen-crm.org/current/> .
<https://example.org/task/depicted-material> a kge:PredictionTask ;
    kge:name "depicted_material" ; kge:order 9 ;
    kge:artifactClass ecrm:E22_Man-Made_Object ;
    kge:property ecrm:P65_shows_visual_item ;
    kge:grouping kge:CollectionGrouping ; kge:facet <http://data.silknow.org/vocabulary/facet/materials> ;
    kge:minSupport 1 .
""")
    settings = mini_settings(ontology=[str(ontology)])
    tasks = load_tasks(mini_store, settings)
    assert tasks[-1].name == "depicted_material" and tasks[-1].subject_link is None
    labels = label_groups(mini_store, tasks)
    assert {g.id: g.support for g in labels["depicted_material"].groups} == {"animal_fibre": 1}
    records = {r.iri: r for r in extract(mini_store, tasks)}
    assert records[OBJ + "a1"].labels["depicted_material"] == "animal_fibre"
    assert records[OBJ + "a1"].subjects["depicted_material"] == OBJ + "a1"


def test_the_configuration_graph_changes_and_disables_tasks(mini_store):
    mini_store.load_bytes(b"""
@prefix kge: <https://w3id.org/kgenrich/ontology#> .
<https://w3id.org/kgenrich/task/time> a kge:PredictionTask ; kge:name "time" ; kge:enabled false .
<https://w3id.org/kgenrich/task/place> kge:order 0 ; kge:minSupport 2 .
""", "turtle", graph=CONFIG_GRAPH)
    tasks = load_tasks(mini_store, mini_settings())
    assert [t.name for t in tasks] == ["place", "material", "technique", "depiction"]
    labels = label_groups(mini_store, tasks)
    assert [g.id for g in labels["place"].groups] == ["FR"]  # ES has support 1 < 2
    assert [g.id for g in labels["place"].dropped] == ["ES"]
    # The configuration graph is not a museum graph.
    records = extract(mini_store, tasks)
    assert len(records) == 6
    # A task of its own (an IRI of its own) with the name of an existing one is refused, not merged
    # into it (issue 21.6).
    mini_store.load_bytes(b"""
@prefix kge: <https://w3id.org/kgenrich/ontology#> .
<https://w3id.org/kgenrich/task/place2> a kge:PredictionTask ; kge:name "place" ; kge:order 0 .
""", "turtle", graph=CONFIG_GRAPH)
    with pytest.raises(TaskDefinitionError, match="task:place2 .configuration graph. declares a new task"):
        load_tasks(mini_store, mini_settings())


@pytest.mark.parametrize("body, message", [
    ("kge:property ecrm:P999_not_in_the_ontology", "task 'broken': property <http://erlangen-crm.org/current/P999_not_in_the_ontology> is not a property"),
    ("kge:property ecrm:P126_employed ; kge:subjectLink ecrm:P108_has_producd", "subject link <http://erlangen-crm.org/current/P108_has_producd>"),
])
def test_task_definitions_are_checked_against_the_ontology(mini_store, tmp_path, body, message):
    extra = tmp_path / "broken.ttl"
    extra.write_text(f"""
@prefix kge: <https://w3id.org/kgenrich/ontology#> .
@prefix ecrm: <http://erlangen-crm.org/current/> .
<https://example.org/task/broken> a kge:PredictionTask ; kge:name "broken" ;
    kge:artifactClass ecrm:E22_Man-Made_Object ; {body} ;
    kge:grouping kge:CountryGrouping .
""")
    settings = mini_settings()
    settings.ontology.append(str(extra))
    with pytest.raises(TaskDefinitionError) as info:
        load_tasks(mini_store, settings)
    assert message in str(info.value)


def test_unknown_artifact_class_and_missing_keys(mini_store, tmp_path):
    extra = tmp_path / "broken.ttl"
    extra.write_text("""
@prefix kge: <https://w3id.org/kgenrich/ontology#> .
<https://example.org/task/b> a kge:PredictionTask ; kge:name "b" ;
    kge:artifactClass <https://example.org/NoSuchClass> ; kge:property <http://erlangen-crm.org/current/P126_employed> ;
    kge:grouping kge:CountryGrouping .
<https://example.org/task/c> a kge:PredictionTask ; kge:name "c" .
""")
    settings = mini_settings()
    settings.ontology.append(str(extra))
    with pytest.raises(TaskDefinitionError, match="task '(b|c)'"):
        load_tasks(mini_store, settings)


def test_empty_store_is_a_clear_error():
    store = EmbeddedStore()
    tasks = load_tasks(store, mini_settings())
    with pytest.raises(EmptyGraphError, match="holds no artifacts"):
        label_groups(store, tasks)


@pytest.mark.parametrize("server", ["oxigraph", "virtuoso"])
def test_remote_store_gives_the_same_dataset(mini_store, server, request):
    endpoint = request.getfixturevalue(server)
    remote = RemoteStore(endpoint.query, update_endpoint=endpoint.update)
    for graph in remote.graph_names():
        if "kgenrich/test" in str(graph):
            remote.drop_graph(graph)  # Virtuoso is shared by the module's tests
    remote.load_file(MINI)
    tasks = load_tasks(remote, mini_settings())
    # page_size 4 makes museum-b's page short, so the truncation check (ASK) runs too.
    remote_records = [r.to_dict() for r in extract(remote, tasks, page_size=4)]
    local_records = [r.to_dict() for r in extract(mini_store, load_tasks(mini_store, mini_settings()))]
    assert remote_records == local_records


@pytest.mark.silknow
def test_silknow_groups_and_supports(silknow_dir):
    store = EmbeddedStore()
    for name in VOCABULARIES + ["kg/silknow-train.trig.gz"]:
        store.load_file(silknow_dir / name)
    tasks = load_tasks(store, mini_settings(ontology=[]))
    labels = label_groups(store, tasks)
    supports = {name: {g.id: g.support for g in tl.groups} for name, tl in labels.items()}
    assert set(supports["material"]) == {"animal_fibre", "vegetal_fibre", "metal_thread"}
    assert set(supports["technique"]) == {"damask", "embroidery", "velvet", "other_technique"}
    assert set(supports["place"]) == {"FR", "IT", "ES", "GB", "IR", "IN", "JP", "CN", "TR"}
    assert [labels["time"].group(g).label for g in sorted(supports["time"])] == [
        f"{n}th century (dates CE)" for n in (16, 17, 18, 19, 20)]
    assert {name: sum(s.values()) for name, s in supports.items() if name != "depiction"} == {
        "material": 10739, "technique": 4222, "place": 7802, "time": 6234}
