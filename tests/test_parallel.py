"""Data parallelism and ZeRO/FSDP sharding: memory per GPU, all-reduce time, GPU-hours, price."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.core.errors import InvalidConfigError, UnknownPresetError
from costmodel.hardware.parallel import (
    communication_seconds,
    gpu_hours,
    memory_per_gpu,
    model_states,
    parse_price,
    per_gpu_batch,
    ring_allreduce_seconds,
    strategy_name,
    training_cost,
)

# ZeRO (Rajbhandari et al., SC 2020), Figure 1: a 7.5B-parameter model, 64 GPUs, mixed-
# precision Adam (K = 12): 120 GB per GPU for the baseline, 31.4 GB with P_os, 16.6 GB with
# P_os+g, 1.9 GB with P_os+g+p. The figure rounds to the tenth of a GB.
ZERO_FIGURE_1 = [("ddp", 120e9), ("zero1", 31.4e9), ("zero2", 16.6e9), ("zero3", 1.9e9)]


@pytest.mark.parametrize("strategy, expected", ZERO_FIGURE_1)
def test_zero_paper_figure_1(strategy, expected):
    states = model_states(7_500_000_000, optimizer="adam", dtype="bf16")
    assert memory_per_gpu(states, gpus=64, strategy=strategy).total == pytest.approx(expected, abs=0.05e9)


def test_fp32_states_hand_derived():
    # 1000 params, fp32 AdamW: 4 kB weights, 4 kB grads, 8 kB moments; momentum SGD 4 kB
    s = model_states(1000, optimizer="adamw", dtype="fp32")
    assert (s.params, s.grads, s.optimizer) == (4000, 4000, 8000)
    assert model_states(1000, optimizer="momentum").optimizer == 4000
    assert model_states(1000, optimizer="sgd").optimizer == 0


def test_fsdp_names_map_to_zero_stages():
    assert strategy_name("fsdp") == strategy_name("FULL_SHARD") == "zero3"
    assert strategy_name("shard_grad_op") == "zero2" and strategy_name("none") == "ddp"
    with pytest.raises(UnknownPresetError, match="Did you mean zero3"):
        strategy_name("zero4")


def test_activations_are_not_sharded():
    states = model_states(10**6)
    m = memory_per_gpu(states, gpus=8, strategy="zero3", activations=123.0)
    assert m.activations == 123.0
    assert m.total == pytest.approx(16e6 / 8 + 123.0)


@settings(deadline=None, max_examples=25)
@given(params=st.integers(1, 10**10), gpus=st.integers(1, 1024), opt=st.sampled_from(["sgd", "momentum", "adamw"]))
def test_each_zero_stage_needs_no_more_memory_than_the_last(params, gpus, opt):
    states = model_states(params, optimizer=opt, dtype="bf16")
    totals = [memory_per_gpu(states, gpus=gpus, strategy=s).total for s in ("ddp", "zero1", "zero2", "zero3")]
    assert totals == sorted(totals, reverse=True)
    assert totals[-1] == pytest.approx(states.total / gpus)


def test_ring_allreduce_hand_computed():
    # 8 GPUs, 1 GB, 100 GB/s each way: 2 * 7/8 * 1e9 / 1e11 = 17.5 ms
    assert ring_allreduce_seconds(1e9, 8, 100e9) == pytest.approx(0.0175)
    assert ring_allreduce_seconds(1e9, 1, 100e9) == 0.0
    # ZeRO-3 moves 1.5x the all-reduce volume (ZeRO, Sec. 7.2.2)
    assert communication_seconds(1e9, 8, 100e9, "fsdp") == pytest.approx(1.5 * 0.0175)
    assert communication_seconds(1e9, 8, 100e9, "zero2") == pytest.approx(0.0175)


@settings(deadline=None, max_examples=20)
@given(n=st.integers(2, 4096))
def test_ring_allreduce_approaches_twice_the_bytes(n):
    t = ring_allreduce_seconds(1.0, n, 1.0)
    assert 1.0 <= t < 2.0
    assert t == pytest.approx(2 * (n - 1) / n)


def test_zero_gpus_and_uneven_batches_are_errors():
    with pytest.raises(InvalidConfigError, match="gpus=0: must be at least 1"):
        per_gpu_batch(1024, 0)
    with pytest.raises(InvalidConfigError, match="batch=1000: must be divisible by the GPU count 16"):
        per_gpu_batch(1000, 16)
    with pytest.raises(InvalidConfigError, match="gpus=2.5"):
        ring_allreduce_seconds(1.0, 2.5, 1.0)
    assert per_gpu_batch(1024, 8) == 128


@pytest.mark.parametrize("text, amount, currency", [
    ("2.50 USD/h", 2.5, "USD"), ("$2.5", 2.5, "USD"), ("3 eur/GPU-hour", 3.0, "EUR"), ("£1.2/hr", 1.2, "GBP"),
])
def test_prices_carry_a_currency(text, amount, currency):
    p = parse_price(text)
    assert (p.amount, p.currency) == (amount, currency)


@pytest.mark.parametrize("text, message", [
    ("2.50", "needs a currency"), ("2.50/h", "needs a currency"), ("cheap", "must look like"),
    ("$2 EUR", "two different currencies"),
])
def test_price_without_currency_is_an_error(text, message):
    with pytest.raises(InvalidConfigError, match=message):
        parse_price(text)


def test_gpu_hours_and_cost_hand_computed():
    # 10 hours on 8 GPUs at 2.50 USD per GPU-hour: 80 GPU-hours, 200 USD
    assert gpu_hours(36_000, 8) == pytest.approx(80)
    assert training_cost(36_000, 8, "2.50 USD/h") == pytest.approx((200.0, "USD"))
