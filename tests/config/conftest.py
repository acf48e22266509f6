"""Fixtures for hops.config tests: a throw-away project root with loopback-only addresses."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from cfg_helpers import BASE, matching_talconfig


Writer = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Writer:
    """write(config=None, talconfig=None, *, config_text=None, talconfig_text=None) -> project root.

    A mapping is dumped as YAML; text is written verbatim; talconfig defaults to one matching the config.
    """
    def _write(config: dict[str, Any] | None = None, talconfig: dict[str, Any] | None = None, *,
               config_text: str | None = None, talconfig_text: str | None = None) -> Path:
        config = copy.deepcopy(BASE) if config is None else config
        (tmp_path / "bootstrap-config.yaml").write_text(
            config_text if config_text is not None else yaml.safe_dump(config, sort_keys=False))
        if talconfig_text is None:
            talconfig_text = yaml.safe_dump(talconfig if talconfig is not None else matching_talconfig(config),
                                            sort_keys=False)
        (tmp_path / "talconfig.yaml").write_text(talconfig_text)
        return tmp_path
    return _write
