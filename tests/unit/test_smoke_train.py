"""Real training runs of the smoke job on CPU: the quality bars are met with the defaults.

These assert the metric, not the time; docs/benchmarks.md has the timings.
"""

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from onprem_mlops.smoke import (  # noqa: E402
    dataset,
    loop,
    metrics,
    model,
    runtime,
    stock_forecasting,
    train,
)


@pytest.fixture(scope="module")
def maintenance():
    return train.run()


def test_predictive_maintenance_reaches_the_bar(maintenance):
    assert maintenance.bar == 0.90
    assert maintenance.metric >= 0.90, maintenance.metrics
    assert maintenance.bar_met
    assert maintenance.metrics["roc_auc"] == maintenance.metric
    assert maintenance.history and maintenance.stop_reason in {"epochs", "no improvement"}
    assert maintenance.params["data.seed"] == dataset.DATA_SEED


def test_exported_model_takes_raw_features_and_reproduces_the_metric(maintenance):
    data = dataset.generate()
    x_test, y_test = data.part("test")
    with torch.no_grad():
        probabilities = maintenance.model(torch.from_numpy(x_test)).squeeze(-1).numpy()
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert metrics.roc_auc(y_test, probabilities) == pytest.approx(maintenance.metric, abs=1e-4)
    assert maintenance.input_example.shape == (5, len(maintenance.feature_names))
    assert not any(isinstance(m, torch.nn.Dropout) for m in maintenance.model)


def test_training_is_deterministic_for_a_seed():
    job = train.MaintenanceJob(
        seed=3,
        data=dataset.MaintenanceConfig(n_machines=40, n_days=150),
        fit=loop.FitConfig(epochs=3, patience=3),
    )
    first, second = train.run(job), train.run(job)
    assert first.metric == second.metric
    assert first.history == second.history


def test_time_budget_stops_training_early():
    job = train.MaintenanceJob(
        max_seconds=0.001, data=dataset.MaintenanceConfig(n_machines=40, n_days=150)
    )
    result = train.run(job)
    assert result.stop_reason == "time budget"
    assert len(result.history) == 1


def test_export_folds_standardisation_into_the_first_layer():
    torch.manual_seed(0)
    net = model.build_mlp(4, (8,), dropout=0.0).eval()
    x = torch.randn(16, 4) * 10 + 3
    mean, std = x.mean(dim=0).numpy(), x.std(dim=0).numpy()
    expected = net((x - torch.from_numpy(mean)) / torch.from_numpy(std)) * 2.5 + 7.0
    exported = model.export(net, mean, std, out_mean=7.0, out_std=2.5)
    assert torch.allclose(exported(x), expected, atol=1e-4)
    assert isinstance(model.export(net, mean, std, sigmoid=True)[-1], torch.nn.Sigmoid)


def test_cpu_runtime_when_no_gpu_is_asked_for():
    rt = runtime.select("cpu")
    assert (rt.device, rt.precision, rt.amp_dtype) == ("cpu", "float32", None)
    assert rt.threads == min(runtime.DEFAULT_CPU_THREADS, runtime.available_cores())
    assert runtime.select("cpu", threads=2).threads == 2
    assert not rt.grad_scaler().is_enabled()
    with pytest.raises(ValueError, match="device must be"):
        runtime.select("tpu")


def test_stock_forecasting_beats_seasonal_naive():
    result = stock_forecasting.run()
    naive = result.metrics["seasonal_naive_wape"]
    assert result.bar == pytest.approx(0.9 * naive)
    assert result.metric <= result.bar, result.metrics
    assert result.bar_met and not result.greater_is_better
    assert result.better_than(naive) and not result.better_than(result.metric)
