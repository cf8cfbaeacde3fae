import pytest

from training import DEFAULT_CONFIG_FILE, TrainConfig


def test_default_file_equals_dataclass_defaults():
    assert TrainConfig.from_toml(DEFAULT_CONFIG_FILE) == TrainConfig()
    assert TrainConfig().policy_path().exists()


def test_bad_config_names_the_parameter(tmp_path):
    with pytest.raises(ValueError, match="split.test_monts"):
        TrainConfig.from_dict({"split": {"test_monts": 3}})
    with pytest.raises(ValueError, match="tuning.n_iter"):
        TrainConfig.from_dict({"tuning": {"n_iter": "many"}})
    with pytest.raises(ValueError, match="tuning.n_iter"):
        TrainConfig.from_dict({"tuning": {"n_iter": 0}})
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        TrainConfig.from_toml(tmp_path / "nope.toml")


def test_tuning_has_no_wall_clock_budget_unless_asked(tmp_path):
    """The same seed must give the same model: the default search is n_iter candidates."""
    assert TrainConfig.from_toml().tuning.time_budget_seconds is None
    assert TrainConfig().tuning.time_budget_seconds is None
    opt_in = tmp_path / "budget.toml"
    opt_in.write_text("[tuning]\ntime_budget_seconds = 30\n")
    assert TrainConfig.from_toml(opt_in).tuning.time_budget_seconds == 30.0
    with pytest.raises(ValueError, match="tuning.time_budget_seconds"):
        TrainConfig.from_dict({"tuning": {"time_budget_seconds": 0}})
    with pytest.raises(ValueError, match="tuning.time_budget_seconds"):
        TrainConfig.from_dict({"tuning": {"time_budget_seconds": "soon"}})


def test_flat_params_are_dotted():
    flat = TrainConfig().flat()
    assert flat["split.test_months"] == 12 and flat["label.name"] == "cp_or_looked_after_24m"
