"""parse_yaml reads with libyaml's parser when PyYAML has it, and answers exactly as the pure-Python strict loader
does: the same data, the same duplicate-key and escaped-character problems (line, column), and for a file libyaml
refuses the pure loader's own syntax-error message."""

from __future__ import annotations

import pytest
import yaml

from hops.config import yamlio
from tests.projects import REPO

SAMPLES = {
    "example": (REPO / "bootstrap-config.yaml").read_text(),
    "talconfig": (REPO / "talconfig.yaml").read_text(),
    "duplicates": "a: 1\nb:\n  c: 2\n  c: 3\na: 4\n",
    "escaped": 'name: "x\\0y"\nother: ok\n',
    "unicode before a duplicate": "titel: \"größe ✓\"\nnested: {k: 1, k: 2}\n",
    "unicode on the duplicate's line": 'x: {"ä✓": 1, "ä✓": 2}\n',
    "syntax error": "a: [1, 2\nb: 3\n",
    "bad indentation": "a:\n  b: 1\n c: 2\n",
    "tab": "a:\n\tb: 1\n",
    "not a mapping": "- 1\n- 2\n",
    "empty": "",
}


def pure(text: str, file: str) -> tuple[object, list]:
    """The outcome with the pure-Python loader only (what parse_yaml answered before libyaml was used)."""
    refused = yamlio.characters.file_problems(text, file)
    return (None, refused) if refused else yamlio._refused(text, file)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_fast_path_answers_as_the_pure_loader(name: str) -> None:
    assert yamlio.parse_yaml(SAMPLES[name], "f.yaml") == pure(SAMPLES[name], "f.yaml")


def test_duplicates_are_reported_where_they_are() -> None:
    _, problems = yamlio.parse_yaml(SAMPLES["unicode before a duplicate"], "f.yaml")
    assert [(p.field, p.message) for p in problems] == [
        ("line 2, column 16", "duplicate key 'k' (the earlier value would be ignored)")]


def test_a_syntax_error_keeps_the_pure_loaders_message() -> None:
    """libyaml would say "did not find expected ',' or ']'"; the pure loader names what it found instead."""
    data, problems = yamlio.parse_yaml(SAMPLES["syntax error"], "f.yaml")
    assert data is None
    assert [(p.field, p.message) for p in problems] == [
        ("line 2, column 2", "YAML syntax error: while parsing a flow sequence expected ',' or ']', but got ':'")]


def test_libyaml_is_used_when_pyyaml_has_it() -> None:
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML without libyaml: both paths are the pure loader")
    assert issubclass(yamlio._FastStrictLoader, yaml.CSafeLoader)
    assert not issubclass(yamlio._StrictLoader, yaml.CSafeLoader)
