"""Curators in the loop: the review web page, decisions as RDF, feedback into the next sync.

- ``feedback``: what sync reads back (rejected values); no web imports, so sync stays light.
- ``users``: the users file (salted scrypt hashes, roles reviewer / admin / readonly).
- decisions (a decision -> RDF (review activity + curated value), SHACL-checked, written in one
  conditional update; changes and undos revise the current review, nothing is deleted from the
  review graph; bulk acceptances are batches, undone as one step):
  ``decisions`` (decide one statement: a first decision, a change, an undo), ``decision_types``
  (the decisions, errors, proposal, reviewer, recorded review, outcome), ``decision_triples``
  (the triples of one decision), ``checking`` (the statement, the task's values, the SHACL
  shapes), ``writing`` (the conditional update, read back), ``batches`` (bulk acceptances).
- reading (``reading.Reader`` joins the parts): ``collection`` (the cached collection, labels and
  the queue index), ``queue`` (keyset pages, filters, evidence), ``artifact_page`` (an artifact's
  values, predictions, history and modality scores), ``progress`` (statistics, export rows),
  ``label_search`` (the values a correction picks from).
- ``words``: times and decisions in a curator's words.
- ``access``: log-in throttling and server-side sessions.
- ``guard``: body limits and hardened response headers (ASGI middleware).
- ``export``: the review history as CSV and JSON-LD.
- ``thumbnails``: image thumbnails made and cached from local files.
- the web application, started by ``kgenrich serve``: ``app`` (create_app: routes and middleware),
  ``web`` (ReviewApp: who is asking, CSRF, rendering, one message per failure), ``session_routes``
  (log-in, log-out, /api/session), ``page_routes`` (the pages), ``api_routes`` (the JSON API),
  ``query_params`` (the queue's filters from a request), ``actions`` (the work done off the event
  loop: decide, bulk accept and undo, export, thumbnails).
"""
