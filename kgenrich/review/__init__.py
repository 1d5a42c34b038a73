"""Curators in the loop: the review web page, decisions as RDF, feedback into the next sync.

- ``feedback``: what sync reads back (rejected values); no web imports, so sync stays light.
- ``users``: the users file (salted scrypt hashes, roles reviewer / admin / readonly).
- ``decisions``: a decision -> RDF (review activity + curated value), SHACL-checked, written
  in one conditional update; changes and undos revise the current review, nothing is deleted
  from the review graph; bulk acceptances are batches, undone as one step.
- ``reading``: the queue (an index of the live predictions and the review graph, keyset
  pages), an artifact's view and history, progress statistics, the label search.
- ``words``: times and decisions in a curator's words.
- ``access``: log-in throttling and server-side sessions.
- ``guard``: body limits and hardened response headers (ASGI middleware).
- ``export``: the review history as CSV and JSON-LD.
- ``thumbnails``: image thumbnails made and cached from local files.
- ``app``: the Starlette application (pages + JSON API), started by ``kgenrich serve``.
"""
