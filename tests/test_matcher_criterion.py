"""Hungarian matcher and set criterion: brute force, hand computations, overfitting, target builders."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from stepstones_lite.model.criterion import (
    SetCriterion,
    dice_loss,
    sample_uncertain_points,
    sigmoid_ce_loss,
    targets_from_binary,
    targets_from_labels,
)
from stepstones_lite.model.matcher import HungarianMatcher, dense_point_coords, point_sample


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: a thread pool only adds contention on a busy machine (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def random_case(gen, n_frames=3, q=5, c=4, h=6, w=6, big_h=None, max_targets=3, counts=None):
    """Random predictions and random (possibly overlapping) binary targets."""
    big_h = big_h or h
    outputs = {
        "pred_logits": torch.randn(n_frames, q, c + 1, generator=gen) * 2,
        "pred_masks": torch.randn(n_frames, q, h, w, generator=gen) * 3,
    }
    targets = []
    for i in range(n_frames):
        n = counts[i] if counts is not None else int(torch.randint(0, max_targets + 1, (1,), generator=gen))
        labels = torch.randperm(c, generator=gen)[:n]
        masks = (torch.rand(n, big_h, big_h, generator=gen) > 0.5).float()
        targets.append({"labels": labels, "masks": masks})
    return outputs, targets


def hand_cost(logits, masks, labels, tmasks, wc, wm, wd):
    """Cost matrix [Q, n] from the textbook formulas, element by element (equal resolutions)."""
    probs = logits.softmax(-1)
    q, n = logits.shape[0], labels.shape[0]
    cost = torch.zeros(q, n, dtype=torch.float64)
    for a in range(q):
        x = masks[a].flatten().double()
        s = torch.sigmoid(x)
        for b in range(n):
            t = tmasks[b].flatten().double()
            bce = -(t * torch.log(s) + (1 - t) * torch.log(1 - s)).mean()
            dice = 1 - (2 * (s * t).sum() + 1) / (s.sum() + t.sum() + 1)
            cost[a, b] = wc * -probs[a, labels[b]] + wm * bce + wd * dice
    return cost


def brute_force(cost):
    """Minimum total cost over all injective target -> query assignments."""
    q, n = cost.shape
    if n == 0:
        return 0.0
    return min(sum(float(cost[p[j], j]) for j in range(n)) for p in itertools.permutations(range(q), n))


# ----------------------------------------------------------------------------- matcher


def test_point_sample_reads_pixel_centres_exactly():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    got = point_sample(x, dense_point_coords(3, 4)[None])  # [1, 1, 12]
    assert torch.allclose(got.flatten(), x.flatten(), atol=1e-5)
    # halfway between two pixel centres -> their mean (bilinear)
    mid = point_sample(x, torch.tensor([[[0.25, 0.5]]]))  # x between columns 0 and 1 of row 1
    assert mid.item() == pytest.approx((4.0 + 5.0) / 2, abs=1e-5)


@pytest.mark.parametrize("num_points", [None, 36, 1000])
def test_costs_equal_hand_computation_when_all_points_used(num_points):
    gen = torch.Generator().manual_seed(0)
    outputs, targets = random_case(gen, counts=[2, 3, 1])
    matcher = HungarianMatcher(cost_class=2.0, cost_mask=5.0, cost_dice=5.0, num_points=num_points)
    costs = matcher.cost_matrices(outputs, targets)
    for i, t in enumerate(targets):
        logits, masks = outputs["pred_logits"][i], outputs["pred_masks"][i]
        want = hand_cost(logits, masks, t["labels"], t["masks"], 2.0, 5.0, 5.0)
        n = len(t["labels"])
        assert torch.allclose(costs[i, :, :n].double(), want, atol=1e-4)


def test_class_cost_sign_prefers_confident_query():
    # masks carry no information; query 2 is confident in class 1, so it must take the class-1 target
    logits = torch.zeros(1, 4, 3)
    logits[0, 2, 1] = 8.0
    outputs = {"pred_logits": logits, "pred_masks": torch.zeros(1, 4, 4, 4)}
    targets = [{"labels": torch.tensor([1]), "masks": torch.ones(1, 4, 4)}]
    class_only = HungarianMatcher(cost_class=1.0, cost_mask=0.0, cost_dice=0.0, num_points=None)
    costs = class_only.cost_matrices(outputs, targets)
    assert costs[0, 2, 0] < costs[0, 0, 0] < 0  # -prob: more probable = cheaper, always negative
    assert costs[0, 2, 0] == pytest.approx(-math.exp(8) / (math.exp(8) + 2), abs=1e-6)
    ((src, tgt),) = HungarianMatcher(cost_mask=0.0, cost_dice=0.0)(outputs, targets)
    assert src.tolist() == [2] and tgt.tolist() == [0]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("num_points", [None, 20])
def test_matcher_equals_brute_force(seed, num_points):
    gen = torch.Generator().manual_seed(seed)
    q = int(torch.randint(3, 6, (1,), generator=gen))
    outputs, targets = random_case(gen, n_frames=4, q=q, h=5, w=5, big_h=10, counts=[0, 1, 2, 3])
    matcher = HungarianMatcher(num_points=num_points)
    costs = matcher.cost_matrices(outputs, targets, generator=torch.Generator().manual_seed(99))
    indices = matcher(outputs, targets, generator=torch.Generator().manual_seed(99))
    assert len(indices) == 4
    for i, ((src, tgt), t) in enumerate(zip(indices, targets)):
        n = len(t["labels"])
        assert src.dtype == tgt.dtype == torch.int64
        assert len(src) == len(tgt) == n
        assert len(set(src.tolist())) == n and sorted(tgt.tolist()) == list(range(n))
        got = float(costs[i, src, tgt].sum()) if n else 0.0
        assert got == pytest.approx(brute_force(costs[i, :, :n]), abs=1e-5)


def test_matcher_zero_targets_everywhere():
    gen = torch.Generator().manual_seed(1)
    outputs, targets = random_case(gen, n_frames=2, counts=[0, 0])
    for src, tgt in HungarianMatcher()(outputs, targets):
        assert src.numel() == 0 and tgt.numel() == 0 and src.dtype == torch.int64


def test_matcher_finds_the_obvious_assignment_through_masks():
    # three disjoint squares, queries predict them in a shuffled order; different target resolution
    tmasks = torch.zeros(3, 16, 16)
    tmasks[0, :8, :8] = 1
    tmasks[1, 8:, 8:] = 1
    tmasks[2, :8, 8:] = 1
    order = [2, 0, 3]  # target k is predicted by query order[k]
    masks = torch.full((1, 4, 8, 8), -6.0)
    for k, qi in enumerate(order):
        masks[0, qi] = F.interpolate(tmasks[k][None, None], size=(8, 8), mode="nearest")[0, 0] * 12 - 6
    outputs = {"pred_logits": torch.zeros(1, 4, 3), "pred_masks": masks}
    targets = [{"labels": torch.tensor([0, 1, 1]), "masks": tmasks}]
    gen = torch.Generator().manual_seed(0)
    ((src, tgt),) = HungarianMatcher(num_points=50)(outputs, targets, generator=gen)
    assert {int(s): int(t) for s, t in zip(src, tgt)} == {2: 0, 0: 1, 3: 2}


def test_matcher_rejects_bad_labels():
    outputs = {"pred_logits": torch.zeros(1, 3, 3), "pred_masks": torch.zeros(1, 3, 4, 4)}
    with pytest.raises(ValueError, match="outside"):
        HungarianMatcher()(outputs, [{"labels": torch.tensor([2]), "masks": torch.ones(1, 4, 4)}])
    with pytest.raises(ValueError, match="targets for"):
        HungarianMatcher()(outputs, [])


# ----------------------------------------------------------------------------- criterion


def perfect_outputs(targets, q, c, aux=0, logit=20.0):
    """Query j predicts target j of each frame with very confident logits; the others say no-object."""
    n_frames = len(targets)
    h, w = targets[0]["masks"].shape[-2:]
    logits = torch.full((n_frames, q, c + 1), -logit)
    logits[:, :, c] = logit
    masks = torch.full((n_frames, q, h, w), -logit)
    for i, t in enumerate(targets):
        for j, (lab, m) in enumerate(zip(t["labels"], t["masks"])):
            logits[i, j] = -logit
            logits[i, j, lab] = logit
            masks[i, j] = (m * 2 - 1) * logit
    out = {"pred_logits": logits, "pred_masks": masks}
    out["aux_outputs"] = [{"pred_logits": logits.clone(), "pred_masks": masks.clone()} for _ in range(aux)]
    return out


def label_clip():
    lab = torch.zeros(3, 8, 8, dtype=torch.int64)
    lab[0, 2:6, 2:6] = 3
    lab[1, :4] = 1
    lab[1, 4:, 4:] = 2
    lab[2] = 2
    return lab


def test_criterion_perfect_prediction_is_near_zero_and_wrong_is_large():
    targets = targets_from_labels(label_clip(), num_classes=4)
    crit = SetCriterion(4, HungarianMatcher(num_points=None), num_points=None)
    good = crit(perfect_outputs(targets, q=5, c=4), targets)
    for key in ("loss_ce", "loss_mask", "loss_dice"):
        assert 0 <= good[key].item() < 1e-4, key
    wrong = perfect_outputs(targets, q=5, c=4)
    wrong["pred_masks"] = torch.full_like(wrong["pred_masks"], -20.0)  # every mask confidently empty
    wrong["pred_logits"] = wrong["pred_logits"].roll(1, dims=-1)  # every class shifted
    bad = crit(wrong, targets)
    assert bad["loss_ce"].item() > 5 and bad["loss_mask"].item() > 1 and bad["loss_dice"].item() > 0.9
    assert bad["loss"].item() > 1e4 * good["loss"].item()


def test_criterion_hand_value_single_mask_dense():
    # one frame, one target, Q=2: CE and mask terms checked against direct formulas
    logits = torch.tensor([[[1.0, 0.5, -0.2], [0.3, 0.1, 2.0]]])  # [1, 2, C+1=3]
    masks = torch.randn(1, 2, 4, 4, generator=torch.Generator().manual_seed(3))
    tmask = (torch.arange(16).reshape(4, 4) % 3 == 0).float()
    targets = [{"labels": torch.tensor([0]), "masks": tmask[None]}]
    matcher = HungarianMatcher(num_points=None)
    ((src, _),) = matcher({"pred_logits": logits, "pred_masks": masks}, targets)
    qm = int(src[0])
    crit = SetCriterion(2, matcher, num_points=None)
    out = crit({"pred_logits": logits, "pred_masks": masks}, targets)
    other = 1 - qm
    ce = (-F.log_softmax(logits[0, qm], -1)[0] - 0.1 * F.log_softmax(logits[0, other], -1)[2]) / 1.1
    assert out["loss_ce"].item() == pytest.approx(ce.item(), abs=1e-5)
    x, t = masks[0, qm].flatten(), tmask.flatten()
    assert out["loss_mask"].item() == pytest.approx(F.binary_cross_entropy_with_logits(x, t).item(), abs=1e-5)
    s = x.sigmoid()
    dice = 1 - (2 * (s * t).sum() + 1) / (s.sum() + t.sum() + 1)
    assert out["loss_dice"].item() == pytest.approx(dice.item(), abs=1e-5)
    total = 2 * out["loss_ce"] + 5 * out["loss_mask"] + 5 * out["loss_dice"]
    assert out["loss"].item() == pytest.approx(total.item(), rel=1e-5)


def test_deep_supervision_keys_and_weighted_total():
    gen = torch.Generator().manual_seed(4)
    outputs, targets = random_case(gen, n_frames=2, q=4, c=3, h=6, w=6, big_h=12, counts=[2, 1])
    outputs["aux_outputs"] = [
        {
            "pred_logits": torch.randn(2, 4, 4, generator=gen),
            "pred_masks": torch.randn(2, 4, 6, 6, generator=gen),
        }
        for _ in range(3)
    ]
    crit = SetCriterion(
        3, class_weight=2.0, mask_weight=5.0, dice_weight=4.0, num_points=30, weight_dict={"loss_ce_1": 0.5}
    )
    out = crit(outputs, targets, generator=torch.Generator().manual_seed(0))
    terms = ["loss_ce", "loss_mask", "loss_dice"]
    want_keys = {"loss"} | set(terms) | {f"{k}_{i}" for k in terms for i in range(3)}
    assert set(out) == want_keys
    weights = {"loss_ce": 2.0, "loss_mask": 5.0, "loss_dice": 4.0}
    total = sum(weights[k] * out[k] for k in terms)
    for k in terms:
        for i in range(3):
            total = total + (0.5 if (k, i) == ("loss_ce", 1) else weights[k]) * out[f"{k}_{i}"]
    assert out["loss"].item() == pytest.approx(total.item(), rel=1e-6)
    assert all(out[f"loss_ce_{i}"].item() != out["loss_ce"].item() for i in range(3))  # really other layers


def test_criterion_handles_frames_without_targets_and_backprops():
    gen = torch.Generator().manual_seed(5)
    outputs, targets = random_case(gen, n_frames=2, q=3, c=2, counts=[0, 0])
    outputs["pred_masks"].requires_grad_(True)
    outputs["pred_logits"].requires_grad_(True)
    out = SetCriterion(2, num_points=40)(outputs, targets)
    assert out["loss_mask"].item() == 0 and out["loss_dice"].item() == 0
    # all queries are no-object: CE = mean of -log p(no-object)
    want = -F.log_softmax(outputs["pred_logits"], -1)[..., -1].mean()
    assert out["loss_ce"].item() == pytest.approx(want.item(), abs=1e-5)
    out["loss"].backward()
    assert outputs["pred_logits"].grad is not None and outputs["pred_masks"].grad is not None


def test_criterion_rejects_wrong_class_count():
    gen = torch.Generator().manual_seed(6)
    outputs, targets = random_case(gen, n_frames=1, c=4, counts=[1])
    with pytest.raises(ValueError, match="num_classes"):
        SetCriterion(5)(outputs, targets)


def test_overfitting_one_clip_reduces_loss():
    torch.manual_seed(0)
    lab = label_clip().repeat_interleave(2, 1).repeat_interleave(2, 2)  # [3, 16, 16] targets
    targets = targets_from_labels(lab, num_classes=4)
    logits = torch.zeros(3, 6, 5, requires_grad=True)
    masks = (torch.randn(3, 6, 8, 8) * 0.1).requires_grad_(True)  # predictions at half resolution
    aux_logits = torch.zeros(3, 6, 5, requires_grad=True)
    crit = SetCriterion(4, HungarianMatcher(num_points=40), num_points=40)
    opt = torch.optim.Adam([logits, masks, aux_logits], lr=0.3)
    gen = torch.Generator().manual_seed(0)
    history = []
    for _ in range(60):
        outputs = {
            "pred_logits": logits,
            "pred_masks": masks,
            "aux_outputs": [{"pred_logits": aux_logits, "pred_masks": masks}],
        }
        out = crit(outputs, targets, generator=gen)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        history.append(out["loss"].item())
    assert history[-1] < 0.3 * history[0]
    assert sum(history[-10:]) < sum(history[10:20])  # still going down late, not a lucky dip


def test_importance_sampling_prefers_uncertain_points():
    logits = torch.full((2, 1, 8, 8), 10.0)
    logits[:, :, :, :4] = 0.0  # left half uncertain
    # left-half test stays clear of the bilinear ramp between columns 3 and 4
    coords = sample_uncertain_points(logits, 400, 3.0, 0.75, torch.Generator().manual_seed(0))
    assert coords.shape == (2, 400, 2)
    assert ((coords >= 0) & (coords <= 1)).all()
    left = (coords[..., 0] < 0.4375).float().mean().item()  # x < 3.5/8: logit exactly 0
    # 75% picked among uncertain candidates (>= 1/2.3 of them are exact zeros) + 25% uniform
    assert left > 0.8
    uniform = sample_uncertain_points(logits, 400, 3.0, 0.0, torch.Generator().manual_seed(0))
    assert abs((uniform[..., 0] < 0.4375).float().mean().item() - 0.4375) < 0.06


def test_seeded_generator_is_deterministic():
    gen = torch.Generator().manual_seed(7)
    outputs, targets = random_case(gen, n_frames=3, q=5, c=4, h=6, w=6, big_h=12, counts=[3, 1, 2])
    crit = SetCriterion(4, HungarianMatcher(num_points=10), num_points=10)
    a = crit(outputs, targets, generator=torch.Generator().manual_seed(1))
    b = crit(outputs, targets, generator=torch.Generator().manual_seed(1))
    c = crit(outputs, targets, generator=torch.Generator().manual_seed(2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["loss_mask"].item() != c["loss_mask"].item()
    torch.manual_seed(3)
    d = crit(outputs, targets)  # global RNG path
    torch.manual_seed(3)
    e = crit(outputs, targets)
    assert torch.equal(d["loss"], e["loss"])


def test_pointwise_losses_hand_values():
    x = torch.tensor([[0.0, 2.0], [-1.0, 1.0]])
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    bce = [
        (-math.log(0.5) - math.log(1 - 1 / (1 + math.exp(-2)))) / 2,
        (-math.log(1 - 1 / (1 + math.exp(1))) - math.log(1 / (1 + math.exp(-1)))) / 2,
    ]
    assert sigmoid_ce_loss(x, t, 2.0).item() == pytest.approx(sum(bce) / 2, abs=1e-6)
    s = torch.sigmoid(x)
    d = [1 - (2 * float((s[i] * t[i]).sum()) + 1) / (float(s[i].sum() + t[i].sum()) + 1) for i in range(2)]
    assert dice_loss(x, t, 4.0).item() == pytest.approx(sum(d) / 4, abs=1e-6)


# ----------------------------------------------------------------------------- target builders


def test_targets_from_labels_includes_background_and_skips_ignore():
    lab = torch.tensor([[[0, 0, 5], [255, 2, 5]], [[3, 3, 3], [3, 3, 3]]])  # [2, 2, 3]
    t0, t1 = targets_from_labels(lab, num_classes=6)
    assert t0["labels"].tolist() == [0, 2, 5] and t0["labels"].dtype == torch.int64
    assert t0["masks"].dtype == torch.float32 and t0["masks"].shape == (3, 2, 3)
    assert t0["masks"][0].tolist() == [[1, 1, 0], [0, 0, 0]]  # background; the 255 pixel is in no mask
    assert t0["masks"][1].tolist() == [[0, 0, 0], [0, 1, 0]]
    assert t0["masks"][2].tolist() == [[0, 0, 1], [0, 0, 1]]
    assert t0["masks"].sum(0)[1, 0] == 0
    assert t1["labels"].tolist() == [3] and t1["masks"].sum().item() == 6
    with pytest.raises(ValueError, match="outside"):
        targets_from_labels(lab, num_classes=5)
    with pytest.raises(ValueError, match="integer"):
        targets_from_labels(lab.float(), num_classes=6)


def test_targets_from_binary():
    m = torch.zeros(3, 2, 2, dtype=torch.uint8)
    m[0, 0, 0] = 255
    m[2] = 255
    t0, t1, t2 = targets_from_binary(m)
    assert t0["labels"].tolist() == [0, 1]
    assert t0["masks"][1].tolist() == [[1, 0], [0, 0]] and t0["masks"][0].tolist() == [[0, 1], [1, 1]]
    assert t1["labels"].tolist() == [0] and t1["masks"].sum().item() == 4  # silent frame: background only
    assert t2["labels"].tolist() == [1]
    (b0,) = targets_from_binary(torch.tensor([[[0.0, 1.0]]]))
    assert b0["labels"].tolist() == [0, 1]


def test_sampled_costs_use_one_point_set_per_frame():
    gen = torch.Generator().manual_seed(8)
    outputs, targets = random_case(gen, n_frames=2, q=4, c=3, h=16, w=16, big_h=20, counts=[2, 3])
    matcher = HungarianMatcher(cost_class=1.5, cost_mask=4.0, cost_dice=3.0, num_points=50)
    costs = matcher.cost_matrices(outputs, targets, generator=torch.Generator().manual_seed(5))
    coords = torch.rand(2, 50, 2, generator=torch.Generator().manual_seed(5))  # what the matcher draws
    for i, t in enumerate(targets):
        x = point_sample(outputs["pred_masks"][i : i + 1], coords[i : i + 1])[0].double()  # [Q, P]
        y = point_sample(t["masks"][None], coords[i : i + 1])[0].double()  # [n, P]
        s = x.sigmoid()
        bce = -(torch.log(s)[:, None] * y[None] + torch.log(1 - s)[:, None] * (1 - y[None])).mean(-1)
        dice = 1 - (2 * s @ y.T + 1) / (s.sum(-1)[:, None] + y.sum(-1)[None] + 1)
        cls = -outputs["pred_logits"][i].softmax(-1)[:, t["labels"]].double()
        want = 1.5 * cls + 4.0 * bce + 3.0 * dice
        assert torch.allclose(costs[i, :, : len(t["labels"])].double(), want, atol=1e-4)


def test_mixed_label_resolutions_match_common_resolution():
    # frame 1's targets at 2x (nearest): read at the 8x8 pixel centres they equal the 8x8 originals
    gen = torch.Generator().manual_seed(9)
    outputs, targets = random_case(gen, n_frames=2, q=4, c=3, h=8, w=8, big_h=8, counts=[2, 2])
    mixed = [
        targets[0],
        {
            "labels": targets[1]["labels"],
            "masks": targets[1]["masks"].repeat_interleave(2, 1).repeat_interleave(2, 2),
        },
    ]
    matcher = HungarianMatcher(num_points=None)
    got, want = matcher.cost_matrices(outputs, mixed), matcher.cost_matrices(outputs, targets)
    assert torch.allclose(got, want, atol=1e-6)
    crit = SetCriterion(3, matcher, num_points=None)
    a, b = crit(outputs, mixed), crit(outputs, targets)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_matcher_costs_stay_float32_under_autocast():
    gen = torch.Generator().manual_seed(10)
    outputs, targets = random_case(gen, n_frames=2, q=4, c=3, h=8, w=8, counts=[2, 1])
    matcher = HungarianMatcher(num_points=None)
    plain = matcher.cost_matrices(outputs, targets)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        amp = matcher.cost_matrices(outputs, targets)
        loss = SetCriterion(3, matcher, num_points=None)(outputs, targets)["loss"]
    assert amp.dtype == torch.float32 and torch.allclose(plain, amp, atol=1e-5)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
