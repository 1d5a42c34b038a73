"""Every namespace and fixed IRI kgenrich uses, in one place (the bottom floor).

Vocabularies of the SILKNOW graph (Erlangen CRM, the SILKNOW ontology, SKOS,
PROV-O, GeoNames, OWL-Time) and kgenrich's own: ``kge:`` for task definitions
(ontology/kgenrich.ttl), ``kgs:`` for sync state and validation context.
"""

from __future__ import annotations

from rdflib import Namespace, URIRef

ECRM = Namespace("http://erlangen-crm.org/current/")
SILK = Namespace("http://data.silknow.org/ontology/")
PROV = Namespace("http://www.w3.org/ns/prov#")
SKOS = Namespace("http://www.w3.org/2004/02/skos/core#")
GN = Namespace("http://www.geonames.org/ontology#")
TIME = Namespace("http://www.w3.org/2006/time#")
SCHEMA = Namespace("http://schema.org/")

# kgenrich's task vocabulary (ontology/kgenrich.ttl)
KGE_IRI = "https://w3id.org/kgenrich/ontology#"
KGE = Namespace(KGE_IRI)
# kgenrich's shipped prediction tasks (ontology/profiles/silknow.ttl): task:material ...
TASK = Namespace("https://w3id.org/kgenrich/task/")
# kgenrich's terms for sync state and validation context
KGS = Namespace("https://w3id.org/kgenrich/sync#")
# the SHACL shapes (shapes/*.ttl)
KGSH = Namespace("https://w3id.org/kgenrich/shapes#")

# The store's configuration graph: task definitions and overrides written by editors.
CONFIG_GRAPH = URIRef("https://w3id.org/kgenrich/config")
# Where predictions go unless the predictions_graph setting says otherwise (ADASilk reads it).
DEFAULT_PREDICTIONS_GRAPH = "http://data.silknow.org/predictions"

# IRI spaces of what sync mints (statements, activities, productions, agents).
STATEMENT_NS = "http://data.silknow.org/statement/"
ACTIVITY_NS = "http://data.silknow.org/activity/"
PRODUCTION_NS = "http://data.silknow.org/production/"
AGENT_NS = "http://data.silknow.org/actor/kgenrich/"

# The review page's vocabulary (ontology/kgenrich-review.ttl): curators' decisions.
KGR_IRI = "https://w3id.org/kgenrich/review#"
KGR = Namespace(KGR_IRI)
# IRI spaces of what the review page mints (decisions, reviewers, curated statements).
REVIEW_NS = "http://data.silknow.org/review/"
REVIEWER_NS = "http://data.silknow.org/actor/reviewer/"
CURATED_NS = "http://data.silknow.org/curated/"
FOAF = Namespace("http://xmlns.com/foaf/0.1/")

# The time-span nodes kgenrich writes for predicted date groups (kge:DateGrouping): one per
# century or decade, the same IRI in every store and run (timespan/century/19, timespan/decade/1850).
TIMESPAN_NS = "https://w3id.org/kgenrich/timespan/"
