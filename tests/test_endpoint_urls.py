"""Endpoint URLs are checked when a store is made, and credentials never reach a message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kgenrich.errors import ConfigError
from kgenrich.store.http import parse_endpoint
from kgenrich.store.remote import RemoteStore

ROOT = Path(__file__).resolve().parent.parent

# Each of these once printed "user:Secret@" in a traceback.
BAD_URLS = [
    ("htp://user:Secret@127.0.0.1:1/query", "http:// or https://"),
    ("user:Secret@127.0.0.1:1/query", "http:// or https://"),
    ("http://user:Secret@/query", "no host"),
    ("http://user:Secret@127.0.0.1:99999/query", "1 to 65535"),
    ("http://user:Secret@127.0.0.1:0/query", "1 to 65535"),
    ("http://[::1/query", "not a valid URL"),
    ("http://user:Secret@[::1/query", "not a valid URL"),
    ("http://user:Secret@[::zz]/query", "not a valid URL"),
    ("http://user:Secret@bad host/query", "host name"),
    ("http://user:Sec/ret@127.0.0.1/query", "1 to 65535"),  # an unescaped "/" in the password
]


@pytest.mark.parametrize("url,why", BAD_URLS)
@pytest.mark.parametrize("option", ["endpoint", "update_endpoint", "gsp_endpoint"])
def test_a_malformed_endpoint_is_one_config_error_without_the_password(url, why, option):
    good = "http://127.0.0.1:1/query"
    kwargs = {"endpoint": good, option: url}
    with pytest.raises(ConfigError) as info:
        RemoteStore(kwargs.pop("endpoint"), **kwargs)
    message = str(info.value)
    assert why in message and "\n" not in message
    assert "Secret" not in message and "Sec/ret" not in message and "ret@" not in message
    if "user:" in url:
        assert "***@" in message


@pytest.mark.parametrize("url", [u for u, _ in BAD_URLS[:5]] + ["http://[::1/query"])
def test_the_cli_prints_one_line_without_the_password(url, tmp_path):
    env = {**os.environ, "KGENRICH_USER": "u", "KGENRICH_PASSWORD": "p", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "kgenrich", "--endpoint", url, "tasks"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Secret" not in output and "Traceback" not in output
    assert output.strip().count("\n") == 0


def test_user_info_becomes_credentials_and_leaves_the_url():
    endpoint = parse_endpoint("HTTPS://al%40ice:p%3Ass@[::1]:8890/sparql?x=1#frag")
    assert endpoint.url == "https://[::1]:8890/sparql?x=1"
    assert endpoint.credentials == ("al@ice", "p:ss")
    assert parse_endpoint("http://example.org").url == "http://example.org/"
    assert parse_endpoint("http://example.org:8890/sparql").credentials is None
