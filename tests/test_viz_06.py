import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from stepstones_lite import viz  # noqa: E402
from stepstones_lite.config import resolve_profile  # noqa: E402
from stepstones_lite.study import PAPER_NUMBERS, summarise  # noqa: E402


def _results():
    per_seed = {"two_stage": [{"avss_miou": 0.3}, {"avss_miou": 0.5}], "end_to_end": [{"avss_miou": 0.2}]}
    return {"provenance": {"profile": "smoke"}, "arms": summarise(per_seed, [0, 1], resolve_profile("smoke"))}


def test_summarise_mean_std_and_steps():
    arms = _results()["arms"]
    assert abs(arms["two_stage"]["mean"]["avss_miou"] - 0.4) < 1e-12
    assert abs(arms["two_stage"]["std"]["avss_miou"] - 0.1414213562) < 1e-8  # sample std of (0.3, 0.5)
    assert arms["end_to_end"]["std"]["avss_miou"] == 0.0
    assert arms["end_to_end"]["steps"] == {"end_to_end": resolve_profile("smoke").train.stage2_steps}


def test_plot_study_and_prior_sweep(tmp_path):
    fig = viz.plot_study(_results(), ["two_stage", "end_to_end", "missing_arm"], paper=PAPER_NUMBERS)
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 2  # two bars; the missing arm is skipped
    assert viz.save_figure(fig, "study", folder=tmp_path).is_file()
    fig2 = viz.plot_prior_sweep([(0.9, 0.5), (0.6, 0.3), (1.0, 0.6)], reference=0.4)
    line = fig2.axes[0].lines[0]
    assert list(line.get_xdata()) == [0.6, 0.9, 1.0]  # sorted by prior quality
    fig3 = viz.plot_prior_sweep([(0.9, 0.5), (0.6, 0.3), (1.0, 0.6)], labels=["stage 1", "drop", "oracle"])
    # each point its own marker, named in the legend (names at the points would cover each other when they
    # bunch)
    legend = {h.get_label(): tuple(h.get_offsets()[0]) for h in fig3.axes[0].collections}
    assert legend == {"stage 1": (0.9, 0.5), "drop": (0.6, 0.3), "oracle": (1.0, 0.6)}
    shown = [t.get_text() for t in fig3.axes[0].get_legend().get_texts()]
    assert shown == ["stage 2 with this prior", "drop", "stage 1", "oracle"]
    assert viz.check_figure(fig3) == []
    plt.close("all")


def test_gap_map_draws_every_point_with_its_regime_and_the_fit():
    from stepstones_lite import viz

    points = [
        {"regime": "chosen (coarse visual, fine audio)", "tpavi": False, "delta_loc": d, "gap_test": 0.5 * d}
        for d in (0.0, 0.02, 0.05)
    ] + [{"regime": "TPAVI-style baseline", "tpavi": True, "delta_loc": 0.3, "gap_test": 0.04}]
    summary = {"aavs": {"n": 3, "spearman": 1.0, "slope": 0.5, "intercept": 0.0}}
    fig = viz.plot_gap_map(points, summary, highlight={"delta_loc": 0.01, "gap_test": 0.0, "label": "live"})
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["chosen (coarse visual, fine audio) (3)", "TPAVI-style baseline (1)"]
    assert any("Spearman 1.00" in t for t in labels) and "live" in labels
    assert sum(len(c.get_offsets()) for c in ax.collections) == 5  # 4 runs + the highlight


def test_payoff_ladder_bars_and_steps():
    fig = viz.payoff_ladder(0.30, 0.31, 0.35, 0.50, 0.60, noise=0.03)
    ax = fig.axes[0]
    heights = [round(float(p.get_height()), 3) for p in ax.patches if abs(p.get_width() - 0.8) < 1e-6]
    assert heights == [
        0.30,
        0.31,
        0.35,
        0.30,
        0.50,
        0.60,
    ]  # per mask: end-to-end, after the fact, read by stage 2
    texts = [t.get_text() for t in ax.texts]
    assert "0.350\n(+0.040)" in texts and "0.600\n(+0.100)" in texts and "0.500\n(+0.200)" in texts
    assert [t.get_text() for t in ax.get_xticklabels()] == ["stage-1 mask", "ground-truth mask"]
    plt.close(fig)
