"""Every setting the schema accepts is documented where a user looks for it (README, docs/models.md)."""

import re
from pathlib import Path

from kgenrich.config import SECTIONS, TOP_LEVEL

ROOT = Path(__file__).resolve().parent.parent


def test_every_top_level_key_is_a_row_of_the_readme_settings_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.M))
    assert sorted(set(TOP_LEVEL) - rows) == []
    assert sorted(rows - set(TOP_LEVEL)) == []  # and no row for a key that does not exist


def test_every_section_key_is_named_in_the_docs():
    text = (ROOT / "README.md").read_text(encoding="utf-8") + (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    missing = [f"[{section}] {key}" for section, keys in SECTIONS.items() for key in keys
               if not re.search(rf"`{key}`|`{key} =|^#? ?{key} =|\] {key}\b", text, flags=re.M)]
    assert missing == []
