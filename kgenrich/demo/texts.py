"""Museum descriptions for the demo collection, in five languages.

A description is a few sentences: an opening that names the kind of object,
sentences that mention some of the artifact's true properties in the
museum's language (sometimes precisely, sometimes hedged or only at the level
of the group: "flower" instead of "carnation"), and noise sentences about
conservation, acquisition and measurements.  A property a text mentions is
always the artifact's true value; which properties a text mentions is random,
so the text modality knows part of the truth only.

The words for concepts, places, centuries and periods come from the demo
vocabulary files (labels in en, es, fr, it, ca); the sentence frames are here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .vocab import Vocabulary

# What a description may say about each task, and how likely it says it.
P_MENTION = {"material": 0.42, "technique": 0.40, "depiction": 0.40, "place": 0.45, "time": 0.42}
P_HEDGE = 0.25  # "silk (probably)"
P_BROADER = 0.25  # the broader concept instead of the fine one ("flower" for "tulip")

FRAMES: dict[str, dict[str, list[str]]] = {
    "es": {
        "material": ["Materia: {x}.", "Realizado en {x}.", "Tejido con {x}."],
        "technique": ["Técnica: {x}.", "Trabajado en {x}.", "Ejemplo de {x}."],
        "depiction": ["Decoración de {x}.", "Motivo decorativo: {x}.", "Con motivos de {x}."],
        "city": ["Procedente de {x}.", "Manufactura de {x}.", "Producido en {x}."],
        "country": ["Origen: {x}.", "Tejido {adj}."],
        "century": ["Fechado en el {x}.", "Datación: {x}.", "Obra del {x}."],
        "year": ["Hacia {x}.", "Datación: hacia {x}."],
        "period": ["Estilo: {x}.", "Periodo: {x}."],
        "noise": [
            "Buen estado de conservación.", "Restaurado en {year}.", "Ingresó en el museo en {year}.",
            "Donación de un coleccionista particular.", "Presenta algunas manchas y pequeñas roturas.",
            "Medidas: {a} x {b} cm.", "Forma parte de un conjunto de {n} piezas.", "Número de inventario {inv}.",
            "Los colores se conservan bien.", "Orillo visible en un lateral.",
        ],
        "objects": ["Fragmento de tejido", "Casulla", "Capa pluvial", "Panel", "Cojín",
                    "Tejido para indumentaria", "Muestra de tejido"],
        "hedges": ["posiblemente", "probablemente", "quizás"],
    },
    "fr": {
        "material": ["Matière : {x}.", "Réalisé en {x}.", "Tissu avec {x}."],
        "technique": ["Technique : {x}.", "Travaillé en {x}.", "Exemple de {x}."],
        "depiction": ["Décor de {x}.", "Motif décoratif : {x}.", "Orné de motifs de {x}."],
        "city": ["Provenance : {x}.", "Manufacture de {x}.", "Fabriqué à {x}."],
        "country": ["Origine : {x}.", "Tissu {adj}."],
        "century": ["Daté du {x}.", "Datation : {x}.", "Œuvre du {x}."],
        "year": ["Vers {x}.", "Datation : vers {x}."],
        "period": ["Style : {x}.", "Période : {x}."],
        "noise": [
            "Bon état de conservation.", "Restauré en {year}.", "Entré au musée en {year}.",
            "Don d'un collectionneur particulier.", "Quelques taches et petites déchirures.",
            "Dimensions : {a} x {b} cm.", "Fait partie d'un ensemble de {n} pièces.", "Numéro d'inventaire {inv}.",
            "Les couleurs sont bien conservées.", "Lisière visible sur un côté.",
        ],
        "objects": ["Fragment de tissu", "Chasuble", "Chape", "Panneau", "Coussin",
                    "Tissu d'habillement", "Échantillon de tissu"],
        "hedges": ["probablement", "peut-être", "sans doute"],
    },
    "it": {
        "material": ["Materia: {x}.", "Realizzato in {x}.", "Tessuto con {x}."],
        "technique": ["Tecnica: {x}.", "Lavorato a {x}.", "Esempio di {x}."],
        "depiction": ["Decorazione a {x}.", "Motivo decorativo: {x}.", "Ornato con motivi di {x}."],
        "city": ["Provenienza: {x}.", "Manifattura di {x}.", "Prodotto a {x}."],
        "country": ["Origine: {x}.", "Tessuto {adj}."],
        "century": ["Databile al {x}.", "Datazione: {x}.", "Opera del {x}."],
        "year": ["Circa {x}.", "Datazione: circa {x}."],
        "period": ["Stile: {x}.", "Periodo: {x}."],
        "noise": [
            "Buono stato di conservazione.", "Restaurato nel {year}.", "Entrato nel museo nel {year}.",
            "Dono di un collezionista privato.", "Presenta alcune macchie e piccoli strappi.",
            "Misure: {a} x {b} cm.", "Fa parte di un insieme di {n} pezzi.", "Numero di inventario {inv}.",
            "I colori sono ben conservati.", "Cimosa visibile su un lato.",
        ],
        "objects": ["Frammento di tessuto", "Pianeta", "Piviale", "Pannello", "Cuscino",
                    "Tessuto per abbigliamento", "Campione di tessuto"],
        "hedges": ["probabilmente", "forse", "verosimilmente"],
    },
    "ca": {
        "material": ["Matèria: {x}.", "Realitzat en {x}.", "Teixit amb {x}."],
        "technique": ["Tècnica: {x}.", "Treballat en {x}.", "Exemple de {x}."],
        "depiction": ["Decoració de {x}.", "Motiu decoratiu: {x}.", "Amb motius de {x}."],
        "city": ["Procedència: {x}.", "Manufactura de {x}.", "Produït a {x}."],
        "country": ["Origen: {x}.", "Teixit {adj}."],
        "century": ["Datat al {x}.", "Datació: {x}.", "Obra del {x}."],
        "year": ["Cap a {x}.", "Datació: cap a {x}."],
        "period": ["Estil: {x}.", "Període: {x}."],
        "noise": [
            "Bon estat de conservació.", "Restaurat el {year}.", "Va ingressar al museu el {year}.",
            "Donació d'un col·leccionista particular.", "Presenta algunes taques i petits estrips.",
            "Mides: {a} x {b} cm.", "Forma part d'un conjunt de {n} peces.", "Número d'inventari {inv}.",
            "Els colors es conserven bé.", "Vora visible en un lateral.",
        ],
        "objects": ["Fragment de teixit", "Casulla", "Capa pluvial", "Plafó", "Coixí",
                    "Teixit per a indumentària", "Mostra de teixit"],
        "hedges": ["probablement", "potser", "possiblement"],
    },
    "en": {
        "material": ["Material: {x}.", "Made of {x}.", "Woven with {x}."],
        "technique": ["Technique: {x}.", "Worked in {x}.", "An example of {x}."],
        "depiction": ["Decorated with {x}.", "Motif: {x}.", "Pattern of {x}."],
        "city": ["Provenance: {x}.", "Made in {x}.", "Manufactured in {x}."],
        "country": ["Origin: {x}.", "{adj} textile."],
        "century": ["Dated to the {x}.", "Date: {x}.", "Made in the {x}."],
        "year": ["About {x}.", "Date: circa {x}."],
        "period": ["Style: {x}.", "Period: {x}."],
        "noise": [
            "Good state of conservation.", "Restored in {year}.", "Acquired by the museum in {year}.",
            "Gift of a private collector.", "Some stains and small tears.",
            "Dimensions: {a} x {b} cm.", "Part of a set of {n} pieces.", "Inventory number {inv}.",
            "The colours are well preserved.", "Selvedge visible on one side.",
        ],
        "objects": ["Textile fragment", "Chasuble", "Cope", "Panel", "Cushion cover",
                    "Dress fabric", "Textile sample"],
        "hedges": ["probably", "possibly", "perhaps"],
    },
}

# Country adjectives agreeing with the masculine noun of the frame (tejido, tissu, ...).
ADJECTIVES = {
    "es": {"ES": "español", "FR": "francés", "IT": "italiano", "GB": "inglés", "CN": "chino"},
    "fr": {"ES": "espagnol", "FR": "français", "IT": "italien", "GB": "anglais", "CN": "chinois"},
    "it": {"ES": "spagnolo", "FR": "francese", "IT": "italiano", "GB": "inglese", "CN": "cinese"},
    "ca": {"ES": "espanyol", "FR": "francès", "IT": "italià", "GB": "anglès", "CN": "xinès"},
    "en": {"ES": "Spanish", "FR": "French", "IT": "Italian", "GB": "English", "CN": "Chinese"},
}


@dataclass
class TextFacts:
    """What a description may draw on: the artifact's true values (IRIs)."""

    material: str | None
    material_broader: str | None
    technique: str | None
    technique_broader: str | None
    depiction: str | None
    depiction_broader: str | None
    place: str  # feature IRI (city or country)
    country: str  # country code
    country_iri: str
    century: int  # index 0 (15th) .. 5 (20th)
    century_iri: str
    period: str | None  # period IRI when the artifact has one


def _pick(rng: np.random.Generator, items: list[str]) -> str:
    return items[int(rng.integers(0, len(items)))]


def describe(rng: np.random.Generator, vocab: Vocabulary, facts: TextFacts, lang: str, obj_type: str) -> tuple[str, set[str]]:
    """One description in ``lang``; returns it and the tasks it mentions."""
    f = FRAMES[lang]
    sentences: list[str] = []
    mentioned: set[str] = set()

    def concept_words(fine: str | None, broader: str | None) -> str | None:
        if fine is None:
            return None
        term = broader if (broader and rng.random() < P_BROADER) else fine
        words = vocab.label(term, lang)
        if rng.random() < P_HEDGE:
            words = f"{words} ({_pick(rng, f['hedges'])})"
        return words

    for task, fine, broader in (
        ("material", facts.material, facts.material_broader),
        ("technique", facts.technique, facts.technique_broader),
        ("depiction", facts.depiction, facts.depiction_broader),
    ):
        if rng.random() < P_MENTION[task]:
            words = concept_words(fine, broader)
            if words:
                sentences.append(_pick(rng, f[task]).format(x=words))
                mentioned.add(task)

    if rng.random() < P_MENTION["place"]:
        if facts.place != facts.country_iri and rng.random() < 0.65:
            sentences.append(_pick(rng, f["city"]).format(x=vocab.label(facts.place, lang)))
        elif rng.random() < 0.5:
            sentences.append(f["country"][0].format(x=vocab.label(facts.country_iri, lang)))
        else:
            adj = ADJECTIVES[lang][facts.country]
            sentences.append(f["country"][1].format(adj=adj))
        mentioned.add("place")

    if rng.random() < P_MENTION["time"]:
        kind = rng.random()
        if facts.period is not None and kind < 0.3:
            sentences.append(_pick(rng, f["period"]).format(x=vocab.label(facts.period, lang)))
        elif kind < 0.85:
            sentences.append(_pick(rng, f["century"]).format(x=vocab.label(facts.century_iri, lang)))
        else:
            # A year inside the century, rounded as catalogues do.
            year = 1400 + 100 * facts.century + 5 * int(rng.integers(1, 20))
            sentences.append(_pick(rng, f["year"]).format(x=year))
        mentioned.add("time")

    for _ in range(int(rng.integers(0, 3))):
        sentences.append(
            _pick(rng, f["noise"]).format(
                year=int(rng.integers(1880, 2016)),
                a=int(rng.integers(8, 180)),
                b=int(rng.integers(8, 120)),
                n=int(rng.integers(2, 9)),
                inv=f"{int(rng.integers(100, 99999)):05d}",
            )
        )
    order = rng.permutation(len(sentences))
    body = " ".join(sentences[i] for i in order)
    return f"{obj_type}. {body}", mentioned
