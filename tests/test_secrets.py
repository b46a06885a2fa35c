"""``{env: NAME}`` references in params: resolved from the environment, never mutating what is described."""

from __future__ import annotations

import copy

import pytest

from ragft_eval.errors import ConfigError
from ragft_eval.secrets import is_env_ref, resolve_env_refs


def test_is_env_ref():
    assert is_env_ref({"env": "X"})
    assert not is_env_ref({"env": "X", "default": "y"})  # exactly one key: anything else is ordinary data
    assert not is_env_ref({"name": "X"}) and not is_env_ref("X") and not is_env_ref(["env"]) and not is_env_ref({})


def test_resolves_nested_refs_and_leaves_the_input_alone(monkeypatch):
    monkeypatch.setenv("RAGFT_T_A", "alpha")
    monkeypatch.setenv("RAGFT_T_EMPTY", "")
    params = {
        "a": {"env": "RAGFT_T_A"},
        "nested": {"deep": [{"env": "RAGFT_T_A"}, 1, {"x": {"env": "RAGFT_T_A"}}], "t": ({"env": "RAGFT_T_A"},)},
        "empty": {"env": "RAGFT_T_EMPTY"},
        "not_a_ref": {"env": "RAGFT_T_A", "other": 1},
        "n": 3,
        "s": "plain",
    }
    before = copy.deepcopy(params)
    assert resolve_env_refs(params, setting="system 'x': params") == {
        "a": "alpha",
        "nested": {"deep": ["alpha", 1, {"x": "alpha"}], "t": ("alpha",)},
        "empty": "",
        "not_a_ref": {"env": "RAGFT_T_A", "other": 1},
        "n": 3,
        "s": "plain",
    }
    assert params == before


def test_unset_variable_names_the_setting_at_its_path(monkeypatch):
    monkeypatch.delenv("RAGFT_T_UNSET", raising=False)
    with pytest.raises(ConfigError) as err:
        resolve_env_refs({"db": {"hosts": ["h", {"env": "RAGFT_T_UNSET"}]}}, setting="system 'x': params")
    assert str(err.value) == "system 'x': params.db.hosts.1: environment variable RAGFT_T_UNSET is not set"


@pytest.mark.parametrize("name", ["", "1ABC", "A-B", 5, None])
def test_malformed_variable_name(name):
    with pytest.raises(ConfigError, match=r"^system 'x': params\.k: env: expected an environment variable name"):
        resolve_env_refs({"k": {"env": name}}, setting="system 'x': params")
