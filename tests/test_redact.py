"""redact(): credentials out of any text, URL-like or not."""

import pytest

from kgenrich.redact import redact


@pytest.mark.parametrize("text,expected", [
    ("No connection adapters were found for 'htp://user:Secret@127.0.0.1:1/query'",
     "No connection adapters were found for 'htp://***@127.0.0.1:1/query'"),
    ("endpoint user:Secret@127.0.0.1:1/query is bad", "endpoint ***@127.0.0.1:1/query is bad"),
    ("http://user:Secret@/query", "http://***@/query"),
    ("http://user:Sec/ret@host/q and https://a:b@c/d", "http://***@host/q and https://***@c/d"),
    ("<http://u:Secret@[::1/query>", "<http://***@[::1/query>"),
    ("(url=http://u@h/q)", "(url=http://***@h/q)"),
    # Text without credentials stays as it is.
    ("cannot reach http://127.0.0.1:1/query: HTTP 503 (after 4 attempt(s))",
     "cannot reach http://127.0.0.1:1/query: HTTP 503 (after 4 attempt(s))"),
    ("<http://data.silknow.org/graph/imatex> a: b, mailto:x@y.org", "<http://data.silknow.org/graph/imatex> a: b, mailto:x@y.org"),
])
def test_redact_masks_user_info_in_any_url_like_text(text, expected):
    assert redact(text) == expected


def test_redact_masks_known_secrets_in_any_form():
    text = "server said: bad password s3cr@t! (s3cr%40t) for bob"
    assert redact(text, secrets=["s3cr@t", None, ""]) == "server said: bad password ***! (***) for bob"
    # A short secret is masked where it stands alone, never inside words; URLs are masked all the same.
    assert redact("p at http://u:p@h/", secrets=["p"]) == "*** at http://***@h/"
    assert redact("password prompt: http://u:p@h/", secrets=["p"]) == "password prompt: http://***@h/"


def test_redact_masks_authorization_tokens_a_server_quotes_back():
    # Found by tests/test_redaction.py: a server answering 500 with the request's Authorization header.
    assert redact("refused (Basic YWxpY2U6U2VjcmV0) at /q") == "refused (Basic ***) at /q"
    assert redact("authorization: bearer abc.def-ghi") == "authorization: bearer ***"
    assert redact("Basic auth failed") == "Basic *** failed"  # masked rather than guessed at: prose can spare a word
