"""Synthetic data of the smoke job: deterministic, balanced as documented, no leakage."""

import pytest

np = pytest.importorskip("numpy")

from onprem_mlops.smoke import dataset, stock_forecasting  # noqa: E402

SMALL = dataset.MaintenanceConfig(n_machines=60, n_days=200)


@pytest.fixture(scope="module")
def fleet():
    return dataset.generate()


def test_same_config_same_data():
    first, second = dataset.generate(SMALL), dataset.generate(SMALL)
    assert np.array_equal(first.x, second.x)
    assert np.array_equal(first.y, second.y)
    other = dataset.generate(dataset.MaintenanceConfig(n_machines=60, n_days=200, seed=1))
    assert not np.array_equal(first.x[:100], other.x[:100])


def test_default_fleet_shape_and_class_balance(fleet):
    assert fleet.x.dtype == np.float32
    assert fleet.x.shape == (len(fleet.y), len(dataset.SENSORS) * len(dataset.STATISTICS))
    assert fleet.feature_names == dataset.feature_names()
    assert np.isfinite(fleet.x).all()
    assert set(np.unique(fleet.y)) == {0.0, 1.0}
    assert 0.10 <= fleet.positive_rate() <= 0.20
    assert len(fleet.y) > 20_000


def test_split_by_machine_without_leakage(fleet):
    machines = {name: set(fleet.machine[mask]) for name, mask in fleet.splits.items()}
    assert not machines["train"] & machines["valid"]
    assert not machines["train"] & machines["test"]
    assert not machines["valid"] & machines["test"]
    assert sum(len(m) for m in machines.values()) == dataset.MaintenanceConfig().n_machines
    total = sum(mask for mask in fleet.splits.values())
    assert (total == 1).all()  # every window in exactly one part
    for name in ("train", "valid", "test"):
        assert 0.05 <= fleet.part(name)[1].mean() <= 0.25  # every part has failures


def test_failures_announce_themselves(fleet):
    # Vibration rises before bearing failures: its trend separates the classes on average.
    slope = fleet.x[:, fleet.feature_names.index("vibration_rms_slope")]
    assert slope[fleet.y == 1].mean() > slope[fleet.y == 0].mean() + 0.01


def test_sales_are_deterministic_and_plausible():
    config = stock_forecasting.SalesConfig(n_stores=2, n_items=5, n_days=200)
    first = stock_forecasting.generate_sales(config)
    second = stock_forecasting.generate_sales(config)
    assert np.array_equal(first.sales, second.sales)
    assert first.sales.shape == (10, 200)
    assert (first.sales >= 0).all()
    assert 0.04 <= first.promo.mean() <= 0.12


def test_forecast_features_use_only_known_sales():
    data = stock_forecasting.generate_sales(stock_forecasting.SalesConfig(n_stores=1, n_items=3))
    day = 400
    x, y = stock_forecasting.features(data, day)
    names = stock_forecasting.feature_names()
    assert x.shape == (3, len(names))
    assert np.array_equal(y, data.sales[:, day])
    assert np.array_equal(x[:, names.index("sales_lag_7")], data.sales[:, day - 7])
    expected = data.sales[:, day - 13 : day - 6].mean(axis=1)
    assert np.allclose(x[:, names.index("sales_mean_7")], expected)
    assert np.array_equal(x[:, names.index("promo")], data.promo[:, day])  # planned ahead
    # Changing anything after day - 7 (except the promotion plan) leaves the features alone.
    data.sales[:, day - 6 :] = -1.0
    assert np.array_equal(stock_forecasting.features(data, day)[0], x)
