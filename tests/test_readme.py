"""The README's commands and CI stay in step."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```sh", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("kgenrich demo")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands()[1] in ci.splitlines()


def test_every_query_file_is_used_or_an_example():
    """A .rq file nobody loads is dead weight that drifts from the code."""
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "kgenrich").rglob("*.py"))
    sources += "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py"))
    unused = [p.stem for p in (ROOT / "queries").glob("*.rq") if f'"{p.stem}"' not in sources]
    assert unused == []
