"""Curators in the loop: the review web page, decisions as RDF, feedback into the next sync.

- ``feedback``: what sync reads back (rejected values); no web imports, so sync stays light.
- ``users``: the users file (salted scrypt hashes, roles).
- ``decisions``: a decision -> RDF (review activity + curated value), SHACL-checked, written
  in one conditional update request.
- ``reading``: the queue, an artifact's view, the label search for corrections.
- ``thumbnails``: image thumbnails made and cached from local files.
- ``app``: the Starlette application (pages + JSON API), started by ``kgenrich serve``.
"""
