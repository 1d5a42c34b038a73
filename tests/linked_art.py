"""A small Linked Art collection written for the tests, in the shape of https://linked.art/model/.

Not any museum's data: a few artists (with birth years and places), paintings and prints
with titles, material statements, credit lines, dimensions, images, productions with
time-spans (dateTime bounds), subjects; names, statements, dimensions and time-spans are
blank nodes, as Linked Art documents usually have them.  Some objects lack their type,
some their production date: the gaps the tests expect predictions for.
"""

from __future__ import annotations

import random

CRM = "http://www.cidoc-crm.org/cidoc-crm/"
LA = "https://linked.art/ns/terms/"
AAT = "http://vocab.getty.edu/aat/"
BASE = "https://example.org/la/"
GRAPH = "https://example.org/la/graph"

PREFIXES = f"""@prefix crm: <{CRM}> .
@prefix la: <{LA}> .
@prefix aat: <{AAT}> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix ex: <{BASE}> .
"""

ARTISTS = [
    # id, name, birth year, birth place, paints (True) or prints
    ("p1", "Ann Oilwright", 1790, "london", True),
    ("p2", "Bert Etcher", 1795, "paris", False),
    ("p3", "Cora Canvas", 1880, "london", True),
    ("p4", "Dan Lithograph", 1885, "paris", False),
]
TYPES = {"painting": "painting", "print": "print"}


def objects(n: int = 60, seed: int = 0) -> list[dict]:
    """The objects' facts (also what the tests compare predictions with)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        artist = ARTISTS[i % len(ARTISTS)]
        painting = artist[4]
        year = artist[2] + 25 + rng.randint(0, 30)
        out.append({
            "id": f"o{i:03d}", "artist": artist[0], "type": "painting" if painting else "print",
            "medium": ("Oil paint on canvas" if painting else rng.choice(["Etching on paper", "Lithograph on paper"])),
            "title": f"{rng.choice(['View of', 'Study for', 'Portrait of', 'Landscape with'])} {rng.choice(['a river', 'the sea', 'a lady', 'hills'])}",
            "begin": year, "end": year + rng.choice([0, 0, 1, 3]),
            "height": rng.randint(600, 1500) if painting else rng.randint(150, 400),
            "width": rng.randint(500, 1200) if painting else rng.randint(120, 350),
            "subject": rng.choice(["sea", "people", "landscape"]),
            "has_type": i % 10 != 3,  # every tenth object (3, 13, ...) lacks its type
            "has_date": i % 10 != 7,  # and another tenth its production date
            "has_production": i % 20 != 19,  # some have no production node at all (19, 39, 59)
            "has_visual": i % 15 != 14,  # and some no visual item, so no subject (14, 29, 44, 59)
        })
    return out


def turtle(n: int = 60, seed: int = 0, with_vocabulary: bool = True) -> str:
    """The collection as Turtle (the triples of one museum graph; load it with graph=GRAPH)."""
    lines = [PREFIXES]
    if with_vocabulary:
        lines.append("aat:300435443 a crm:E55_Type ; rdfs:label \"Type of Work\" .")
        for key, label in TYPES.items():
            lines.append(f"<{BASE}type/{key}> a crm:E55_Type ; rdfs:label \"{label}\" ; crm:P2_has_type aat:300435443 .")
        lines.append(f"<{BASE}type/framed> a crm:E55_Type ; rdfs:label \"framed\" .")  # a type that is no type of work
        for place in ("london", "paris"):
            lines.append(f"<{BASE}place/{place}> a crm:E53_Place ; rdfs:label \"{place.title()}\" .")
        for subject in ("sea", "people", "landscape"):
            lines.append(f"<{BASE}subject/{subject}> a crm:E55_Type ; rdfs:label \"{subject}\" .")
        for pid, name, born, place, _ in ARTISTS:
            lines.append(
                f"<{BASE}person/{pid}> a crm:E21_Person ; rdfs:label \"{name}\" ;\n"
                f"  crm:P98i_was_born [ a crm:E67_Birth ; crm:P7_took_place_at <{BASE}place/{place}> ;\n"
                f"    crm:P4_has_time-span [ a crm:E52_Time-Span ;\n"
                f"      crm:P82a_begin_of_the_begin \"{born}-01-01T00:00:00Z\"^^xsd:dateTime ;\n"
                f"      crm:P82b_end_of_the_end \"{born}-12-31T23:59:59Z\"^^xsd:dateTime ] ] .")
    for o in objects(n, seed):
        oid = o["id"]
        parts = [
            f"<{BASE}object/{oid}> a crm:E22_Human-Made_Object ; rdfs:label \"{o['title']}\" ;",
            f"  crm:P1_is_identified_by [ a crm:E33_E41_Linguistic_Appellation ; crm:P190_has_symbolic_content \"{o['title']}\" ;",
            "      crm:P2_has_type aat:300404670 ; crm:P72_has_language aat:300388277 ] ;",
            f"  crm:P1_is_identified_by [ a crm:E42_Identifier ; crm:P190_has_symbolic_content \"{oid.upper()}\" ] ;",
            f"  crm:P67i_is_referred_to_by [ a crm:E33_Linguistic_Object ; crm:P190_has_symbolic_content \"{o['medium']}\" ;",
            "      crm:P2_has_type aat:300435429 ] ;",
            f"  crm:P67i_is_referred_to_by [ a crm:E33_Linguistic_Object ; crm:P190_has_symbolic_content \"Presented by a friend {1900 + int(oid[1:])}\" ;",
            "      crm:P2_has_type aat:300026687 ] ;",
            f"  crm:P43_has_dimension [ a crm:E54_Dimension ; crm:P90_has_value {o['height']} ; crm:P2_has_type aat:300055644 ;",
            "      crm:P91_has_unit aat:300379097 ] ;",
            f"  crm:P43_has_dimension [ a crm:E54_Dimension ; crm:P90_has_value {o['width']} ; crm:P2_has_type aat:300055647 ;",
            "      crm:P91_has_unit aat:300379097 ] ;",
            "  crm:P138i_has_representation [ a crm:E36_Visual_Item ; la:digitally_shown_by [ a <http://www.ics.forth.gr/isl/CRMdig/D1_Digital_Object> ;",
            f"      la:access_point <https://images.example.org/{oid}.jpg> ] ] ;",
            *([f"  crm:P65_shows_visual_item <{BASE}object/{oid}/visual> ;"] if o["has_visual"] else []),
            f"  crm:P2_has_type <{BASE}type/framed> ;",
        ]
        if o["has_type"]:
            parts.append(f"  crm:P2_has_type <{BASE}type/{o['type']}> ;")
        if o["has_production"]:
            parts.append(f"  crm:P108i_was_produced_by <{BASE}object/{oid}/production> .")
            prod = [f"<{BASE}object/{oid}/production> a crm:E12_Production ; "
                    f"crm:P14_carried_out_by <{BASE}person/{o['artist']}>"]
            if o["has_date"]:
                prod.append(f"  ; crm:P4_has_time-span [ a crm:E52_Time-Span ;\n"
                            f"      crm:P82a_begin_of_the_begin \"{o['begin']}-01-01T00:00:00Z\"^^xsd:dateTime ;\n"
                            f"      crm:P82b_end_of_the_end \"{o['end']}-12-31T23:59:59Z\"^^xsd:dateTime ]")
            prod.append(" .")
            parts.append("".join(prod))
        else:
            parts[-1] = parts[-1].rstrip(" ;") + " ."
        if o["has_visual"]:
            parts.append(f"<{BASE}object/{oid}/visual> a crm:E36_Visual_Item ; "
                         f"crm:P129_is_about <{BASE}subject/{o['subject']}> .")
        lines.append("\n".join(parts))
    return "\n".join(lines) + "\n"


def century(year: int) -> str:
    return f"century_{(year - 1) // 100 + 1}"


# Minimum supports for a collection this small (the profile's 50 is for real collections): a task
# file of the `ontology` setting overrides the profile's tasks property by property.
SMALL_TASKS = """@prefix kge: <https://w3id.org/kgenrich/ontology#> .
@prefix latask: <https://w3id.org/kgenrich/task/linked-art/> .
latask:type kge:minSupport 5 .
latask:century kge:minSupport 5 .
latask:depiction kge:minSupport 5 .
latask:material kge:minSupport 5 .
latask:technique kge:minSupport 5 .
latask:place kge:minSupport 5 .
"""
