"""Tests for stepstones_lite.metrics: hand-worked AVSBench cases (docs/avsbench.md §3.5), loop references
written from the official pseudo-code (docs/avsbench.md §3.1–3.3), SemanticMeter on tiny maps,
diagnostics, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stepstones_lite.metrics import (
    BinaryMeter,
    FrameTypeMeter,
    SemanticMeter,
    binarize_semantic,
    binary_diagnostics,
    f_measure,
    frame_iou,
    mask_iou,
    semantic_frame_stats,
    semantic_prediction,
)

F_HALF = 1.3 * 0.5 / (0.3 * 0.5 + 1.0)  # F at threshold 0 on a half-foreground GT = 0.565217...


# ------------------------------------------------------------------ loop references (official pseudo-code)
def ref_mask_iou(logits, gt):
    n, h, w = logits.shape
    p = (torch.sigmoid(logits) > 0.5).int()
    total = 0.0
    vals = []
    for i in range(n):
        if gt[i].sum() == 0:
            inter, union = ((1 - gt[i]) * (1 - p[i])).sum(), torch.tensor(float(h * w))
        else:
            inter, union = (p[i] * gt[i]).sum(), torch.max(p[i], gt[i]).sum()
        vals.append(inter / (union + 1e-7))
    total = torch.sum(torch.stack(vals)) / n
    return total.item()


def ref_f_measure(logits, gt, num=255):
    s = torch.sigmoid(logits)
    th = torch.linspace(0, 1 - 1e-10, num)
    acc, cnt, score = 0.0, 0, torch.zeros(num)
    for i in range(s.shape[0]):
        if torch.mean(gt[i]) == 0.0:
            continue
        prec, rec = torch.zeros(num), torch.zeros(num)
        for k in range(num):
            y = (s[i] >= th[k]).float()
            tp = (y * gt[i]).sum()
            prec[k], rec[k] = tp / (y.sum() + 1e-20), tp / (gt[i].sum() + 1e-20)
        f = 1.3 * prec * rec / (0.3 * prec + rec)
        f[f != f] = 0
        acc = acc + f
        cnt += 1
        score = acc / cnt
    return score.max().item()


def ref_avss(logits, labels, nclass):
    """Per-batch sums as in the official _batch_miou_fscore (histc on values + 1)."""
    pred = torch.argmax(torch.softmax(logits, 1), 1).float() + 1 if logits.dim() == 4 else logits.float() + 1
    tgt = labels.float() + 1
    inter = pred * (pred == tgt).float()
    ious, fs, cnt = torch.zeros(nclass), torch.zeros(nclass), torch.zeros(nclass)
    for i in range(tgt.shape[0]):
        a_i = torch.histc(inter[i], bins=nclass, min=1, max=nclass)
        a_p = torch.histc(pred[i], bins=nclass, min=1, max=nclass)
        a_l = torch.histc(tgt[i], bins=nclass, min=1, max=nclass)
        a_u = a_p + a_l - a_i
        ious += 1.0 * a_i / (2.220446049250313e-16 + a_u)
        cnt[torch.nonzero(a_u).squeeze(-1)] += 1
        pr, rc = a_i / a_p, a_i / a_l
        f = 1.3 * pr * rc / (0.3 * pr + rc)
        f[torch.isnan(f)] = 0.0
        fs += f
    return ious, fs, cnt


def ref_avss_final(sums):
    ious, fs, cnt = sums
    m = ious / cnt
    m[torch.isnan(m)] = 0
    f = fs / cnt
    f[torch.isnan(f)] = 0
    return torch.mean(m).item(), torch.mean(f).item()


def random_binary_batch(n=6, h=12, w=12, seed=0, empty=(1,)):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, h, w, generator=g) * 3
    gt = torch.zeros(n, h, w)
    for i in range(n):
        if i in empty:
            continue
        y0, x0 = torch.randint(0, h // 2, (2,), generator=g).tolist()
        gt[i, y0 : y0 + h // 2, x0 : x0 + w // 3] = 1
        logits[i] += 4 * gt[i] - 2  # informative but noisy
    return logits, gt


# ------------------------------------------------------------------ docs/avsbench.md §3.5 hand-worked cases
def full(v, n=1):
    return torch.full((n, 4, 4), float(v))


HALF = torch.zeros(1, 4, 4)
HALF[:, :2] = 1


@pytest.mark.parametrize(
    "name,logits,gt,iou,f",
    [
        ("A pred+/gt1", full(10), full(1), 1.0, 1.0),
        ("B pred-/gt0", full(-10), full(0), 1.0, 0.0),
        ("C pred-/gt1", full(-10), full(1), 0.0, 1.0),
        ("D pred+/gt0", full(10), full(0), 0.0, 0.0),
        ("E pred-/gt half", full(-10), HALF, 0.0, F_HALF),
        ("F logit0/gt1", full(0), full(1), 0.0, 1.0),
    ],
)
def test_hand_worked_binary_cases(name, logits, gt, iou, f):
    assert mask_iou(logits, gt) == pytest.approx(iou, abs=1e-6), name
    assert f_measure(logits, gt) == pytest.approx(f, abs=1e-6), name
    assert f_measure(logits, gt) == pytest.approx(ref_f_measure(logits, gt), abs=1e-7)


def test_hand_worked_case_e_value():
    assert F_HALF == pytest.approx(0.565217, abs=1e-6)


def test_case_g_perfect_and_correct_empty_frame():
    logits = torch.cat([full(10), full(-10)])
    gt = torch.cat([full(1), full(0)])
    assert mask_iou(logits, gt) == pytest.approx(1.0, abs=1e-6)
    assert f_measure(logits, gt) == pytest.approx(1.0, abs=1e-6)  # empty frame skipped by F


def two_frames_with_different_best_thresholds():
    # frame 1: GT top half; scores high everywhere (10 on GT, 5 off) -> F = 1 only for t in (0.9933, 0.99995]
    # frame 2: GT top half; scores low everywhere (-5 on GT, -10 off) -> F = 1 only for t in (4.5e-5, 0.0067]
    gt = torch.cat([HALF, HALF])
    logits = torch.cat([5 + 5 * HALF, -10 + 5 * HALF])
    return logits, gt


def test_case_h_f_depends_on_batch_size():
    logits, gt = two_frames_with_different_best_thresholds()
    bs1 = [f_measure(logits[i : i + 1], gt[i : i + 1]) for i in range(2)]
    assert bs1 == pytest.approx([1.0, 1.0], abs=1e-6)
    # batch of 2: best threshold 1/254 gives (1 + F_HALF) / 2 = 1.8 / 2.3
    assert f_measure(logits, gt) == pytest.approx(1.8 / 2.3, abs=1e-6)
    assert f_measure(logits, gt) == pytest.approx(0.782609, abs=1e-6)
    for bv, want in [(1, 1.0), (2, 1.8 / 2.3)]:
        meter = BinaryMeter(batch_videos=bv)
        meter.update(logits[0:1], gt[0:1])
        meter.update(logits[1:2], gt[1:2])
        assert meter.compute()["fscore"] == pytest.approx(want, abs=1e-6)


# ------------------------------------------------------------------ small cases by hand
def test_iou_partial_overlap_and_empty_gt_rule():
    gt = torch.zeros(2, 4, 4)
    gt[0, :2] = 1  # 8 px
    logits = torch.full((2, 4, 4), -10.0)
    logits[0, :1] = 10  # 4 px inside GT
    logits[0, 3, 0] = 10  # 1 px outside GT
    logits[1, 0, :3] = 10  # empty GT: 3 of 16 pixels predicted foreground
    ious = frame_iou(logits, gt)
    assert ious.tolist() == pytest.approx([4 / 9, 13 / 16], abs=1e-6)
    assert mask_iou(logits, gt) == pytest.approx((4 / 9 + 13 / 16) / 2, abs=1e-6)


def test_all_wrong_and_perfect():
    gt = HALF.repeat(3, 1, 1)
    assert mask_iou(20 * gt - 10, gt) == pytest.approx(1.0, abs=1e-6)
    assert f_measure(20 * gt - 10, gt) == pytest.approx(1.0, abs=1e-6)
    wrong = 10 - 20 * gt  # predicts exactly the complement
    assert mask_iou(wrong, gt) == pytest.approx(0.0, abs=1e-6)
    # only threshold 0 (everything positive) gives TP > 0
    assert f_measure(wrong, gt) == pytest.approx(F_HALF, abs=1e-6)


def test_hard_mask_and_binarize_semantic():
    labels = torch.tensor([[[0, 3], [5, 0]]])
    fg = binarize_semantic(labels)
    assert fg.dtype == torch.bool and fg.tolist() == [[[False, True], [True, False]]]
    gt = torch.tensor([[[0.0, 1.0], [0.0, 0.0]]])
    assert mask_iou(fg, gt) == pytest.approx(0.5, abs=1e-6)  # bool "logits" used as a hard mask
    with pytest.raises(ValueError, match="integer"):
        binarize_semantic(torch.zeros(1, 3, 2, 2))


def test_against_loop_reference_random():
    for seed in range(3):
        logits, gt = random_binary_batch(seed=seed)
        assert mask_iou(logits, gt) == pytest.approx(ref_mask_iou(logits, gt), abs=1e-7)
        assert f_measure(logits, gt) == pytest.approx(ref_f_measure(logits, gt), abs=1e-7)
        want = ref_f_measure(logits, gt, 17)
        assert f_measure(logits, gt, num_thresholds=17) == pytest.approx(want, abs=1e-7)


def test_float64_inputs_follow_input_dtype():
    logits, gt = random_binary_batch(seed=5)
    l64, g64 = logits.double(), gt.double()
    assert mask_iou(l64, g64) == pytest.approx(ref_mask_iou(l64, g64), abs=1e-9)
    assert f_measure(l64, g64) == pytest.approx(ref_f_measure(l64, g64), abs=1e-7)
    # bool / uint8 targets are read as float {0, 1}
    assert mask_iou(logits, gt.bool()) == pytest.approx(mask_iou(logits, gt), abs=0)
    assert f_measure(logits, gt.to(torch.uint8)) == pytest.approx(f_measure(logits, gt), abs=0)


def test_nan_logits_are_never_positive():
    logits, gt = random_binary_batch(seed=3)
    logits[0, :3] = float("nan")
    assert f_measure(logits, gt) == pytest.approx(ref_f_measure(logits, gt), abs=1e-7)
    assert mask_iou(logits, gt) == pytest.approx(ref_mask_iou(logits, gt), abs=1e-7)


def test_scores_on_threshold_boundaries():
    # scores exactly equal to a threshold count as positive (>=); logit -inf gives s = 0 (positive at t = 0)
    th = torch.linspace(0, 1 - 1e-10, 255)
    s = torch.stack([th[0], th[100], th[254], th[100]]).view(1, 2, 2)
    logits = torch.logit(s.double()).float()
    gt = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    assert f_measure(logits, gt) == pytest.approx(ref_f_measure(logits, gt), abs=1e-7)


def test_binary_meter_matches_official_batches():
    torch.manual_seed(0)
    clips = [random_binary_batch(n=5, seed=s, empty=(s % 5,)) for s in range(7)]
    for bv in (1, 2, 4):
        meter = BinaryMeter(batch_videos=bv)
        for lg, gt in clips:
            meter.update(lg, gt)
        out = meter.compute()
        batches = [clips[i : i + bv] for i in range(0, len(clips), bv)]
        mious = [
            torch.tensor(ref_mask_iou(torch.cat([c[0] for c in b]), torch.cat([c[1] for c in b])))
            for b in batches
        ]
        fs = [ref_f_measure(torch.cat([c[0] for c in b]), torch.cat([c[1] for c in b])) for b in batches]
        assert out["num_batches"] == len(batches) and out["num_frames"] == 35 and out["num_clips"] == 7
        assert out["miou"] == pytest.approx(sum(m.item() for m in mious) / len(mious), abs=1e-6)
        assert out["fscore"] == pytest.approx(sum(fs) / len(fs), abs=1e-7)
        assert out["batch_fscore"] == pytest.approx(fs, abs=1e-7)
    # several clips at once [B, T, H, W] == one at a time
    m4 = BinaryMeter(batch_videos=2)
    m4.update(torch.stack([c[0] for c in clips[:4]]), torch.stack([c[1] for c in clips[:4]]))
    m1 = BinaryMeter(batch_videos=2)
    for lg, gt in clips[:4]:
        m1.update(lg, gt)
    assert m4.compute()["miou"] == m1.compute()["miou"]
    assert m4.compute()["fscore"] == m1.compute()["fscore"]


def test_binary_meter_empty_batch_scores_zero_f():
    meter = BinaryMeter(batch_videos=1)
    meter.update(full(10, 2), full(1, 2))  # F 1
    meter.update(full(-10, 2), full(0, 2))  # all-empty GT clip: F 0, IoU 1
    out = meter.compute()
    assert out["fscore"] == pytest.approx(0.5, abs=1e-7)
    assert out["miou"] == pytest.approx(1.0, abs=1e-6)
    meter.compute()  # idempotent
    assert meter.compute()["num_batches"] == 2


# ------------------------------------------------------------------ semantic
def tiny_semantic():
    """Two 2x2 frames, 3 classes (see test for the hand computation)."""
    labels = torch.tensor([[[1, 1], [0, 0]], [[0, 0], [0, 0]]])
    pred = torch.tensor([[[1, 0], [0, 0]], [[2, 2], [0, 0]]])
    return pred, labels


def test_semantic_tiny_by_hand():
    pred, labels = tiny_semantic()
    # frame A: bg P3 L2 I2 -> IoU 2/3, F(P=2/3, R=1) = 13/18; c1 P1 L2 I1 -> IoU 1/2, F(P=1, R=1/2) = 13/16
    # frame B (FP-only class 2): bg P2 L4 I2 -> 1/2, F 13/16; c2 P2 L0 -> IoU 0, F 0, counted
    st = semantic_frame_stats(pred, labels, num_classes=3)
    assert st["iou"].flatten().tolist() == pytest.approx([2 / 3, 1 / 2, 0, 1 / 2, 0, 0], abs=1e-6)
    assert st["fscore"].flatten().tolist() == pytest.approx([13 / 18, 13 / 16, 0, 13 / 16, 0, 0], abs=1e-6)
    assert st["present"].tolist() == [[True, True, False], [True, False, True]]
    m = SemanticMeter(num_classes=3)
    m.update(pred, labels)
    out = m.compute()
    iou_pc = [7 / 12, 1 / 2, 0.0]
    f_pc = [(13 / 18 + 13 / 16) / 2, 13 / 16, 0.0]
    assert out["iou_per_class"] == pytest.approx(iou_pc, abs=1e-6)
    assert out["f_per_class"] == pytest.approx(f_pc, abs=1e-6)
    assert out["count_per_class"].tolist() == [2, 1, 1]
    assert out["miou"] == pytest.approx(sum(iou_pc) / 3, abs=1e-6)
    assert out["fscore"] == pytest.approx(sum(f_pc) / 3, abs=1e-6)
    assert out["miou_nb"] == pytest.approx(0.25, abs=1e-6)
    assert out["fscore_nb"] == pytest.approx(13 / 32, abs=1e-6)
    assert out["miou_nb_official"] == pytest.approx((7 / 12 + 1 / 2) / 2, abs=1e-6)  # AVSBench's x[:-1]
    assert out["classes_seen"] == 3 and out["num_frames"] == 2
    # a class never seen anywhere stays in the mean as 0
    m4 = SemanticMeter(num_classes=4)
    m4.update(pred, labels)
    o4 = m4.compute()
    assert o4["miou"] == pytest.approx(sum(iou_pc) / 4, abs=1e-6)
    assert o4["count_per_class"].tolist() == [2, 1, 1, 0] and o4["classes_seen"] == 3


def test_semantic_avsbench_toy_and_edges():
    # docs/avsbench.md §3.3: gt row0 = c1, row1 = bg; pred 3 px c1, 1 px bg
    labels = torch.tensor([[[1, 1], [0, 0]]])
    pred = torch.tensor([[[1, 1], [1, 0]]])
    st = semantic_frame_stats(pred, labels, num_classes=71)
    assert st["iou"][0, :2].tolist() == pytest.approx([0.5, 2 / 3], abs=1e-6)
    assert st["fscore"][0, :2].tolist() == pytest.approx([0.8125, 0.7222222], abs=1e-6)
    # GT all background, prediction all class 5: classes 0 and 5 counted, both 0
    m = SemanticMeter()
    m.update(torch.full((1, 3, 3), 5), torch.zeros(1, 3, 3, dtype=torch.long))
    out = m.compute()
    assert out["count_per_class"][[0, 5]].tolist() == [1, 1] and out["count_per_class"].sum() == 2
    assert out["miou"] == 0.0 and out["fscore"] == 0.0
    # perfect prediction over all 71 classes
    lab = torch.arange(71).view(1, 71, 1).expand(2, 71, 3)
    m = SemanticMeter()
    m.update(lab.clone(), lab.clone())
    assert m.compute()["miou"] == pytest.approx(1.0, abs=1e-6)
    assert m.compute()["fscore"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("c", [6, 71])
def test_semantic_logits_match_official_reference(c):
    g = torch.Generator().manual_seed(c)
    total = [torch.zeros(c), torch.zeros(c), torch.zeros(c)]
    m = SemanticMeter(num_classes=c)
    for b in range(3):
        logits = torch.randn(10, c, 8, 8, generator=g)
        labels = torch.randint(0, c - 1, (10, 8, 8), generator=g)  # class c-1 never in GT
        labels[0] = 0
        m.update(logits, labels)
        for t, r in zip(total, ref_avss(logits, labels, c)):
            t += r
    out = m.compute()
    want_miou, want_f = ref_avss_final(total)
    assert out["miou"] == pytest.approx(want_miou, abs=1e-7)
    assert out["fscore"] == pytest.approx(want_f, abs=1e-7)
    assert out["count_per_class"].tolist() == total[2].long().tolist()


def test_semantic_prediction_argmax_of_softmax_ties_lowest():
    logits = torch.zeros(1, 3, 1, 2)
    logits[0, 2, 0, 1] = 1.0
    assert semantic_prediction(logits).tolist() == [[[0, 2]]]
    # logits that differ but have equal softmax (float32) tie -> lowest index, as official
    logits = torch.tensor([[-200.0, -201.0, 10.0]]).view(1, 3, 1, 1)
    assert torch.softmax(logits, 1)[0, 0].item() == torch.softmax(logits, 1)[0, 1].item() == 0.0
    assert semantic_prediction(logits).item() == 2


def test_semantic_padding_conventions():
    pred, labels = tiny_semantic()
    pad_pred = torch.zeros(1, 2, 2, dtype=torch.long)
    pad_lab = torch.zeros(1, 2, 2, dtype=torch.long)
    allp, alll = torch.cat([pred, pad_pred]), torch.cat([labels, pad_lab])
    valid = torch.tensor([True, True, False])
    # real frames only
    m0 = SemanticMeter(num_classes=3, include_padded=False)
    m0.update(allp, alll, frame_valid=valid)
    m0.add_padded_frames(5)  # no-op
    assert m0.compute()["num_frames"] == 2
    assert m0.compute()["iou_per_class"][0] == pytest.approx(7 / 12, abs=1e-6)
    # padded frame scored: background gets IoU 1, F 1, count +1
    m1 = SemanticMeter(num_classes=3, include_padded=True)
    m1.update(allp, alll, frame_valid=valid)
    o1 = m1.compute()
    assert o1["num_frames"] == 3 and o1["num_padded_frames"] == 1
    assert o1["iou_per_class"][0] == pytest.approx((7 / 6 + 1) / 3, abs=1e-6)
    assert o1["f_per_class"][0] == pytest.approx((13 / 18 + 13 / 16 + 1) / 3, abs=1e-6)
    # add_padded_frames(1) with the default all-background prediction == scoring the frame explicitly
    m2 = SemanticMeter(num_classes=3, include_padded=True)
    m2.update(pred, labels)
    m2.add_padded_frames(1)
    assert m2.compute()["miou"] == pytest.approx(o1["miou"], abs=1e-7)
    # a false positive on a padded frame hurts class 1 and background
    m3 = SemanticMeter(num_classes=3, include_padded=True)
    m3.update(pred, labels)
    m3.add_padded_frames(1, pred=torch.tensor([[[1, 0], [0, 0]]]))
    o3 = m3.compute()
    assert o3["count_per_class"].tolist() == [3, 2, 1]
    assert o3["iou_per_class"][1] == pytest.approx(0.25, abs=1e-6)
    assert o3["iou_per_class"][0] == pytest.approx((7 / 6 + 3 / 4) / 3, abs=1e-6)
    with pytest.raises(ValueError, match="all-background"):
        m3.update(allp, alll + 1, frame_valid=valid)


# ------------------------------------------------------------------ diagnostics
def diag_clip():
    t, h, w = 3, 2, 4
    gt = torch.zeros(t, h, w)
    a = torch.zeros(t, h, w, dtype=torch.bool)
    a[:, :, :2] = True  # instance A: left half, sounding only in frame 2
    b = torch.zeros(t, h, w, dtype=torch.bool)
    b[:, 0, 2:] = True  # distractor B: top-right 2 px, never sounding
    gt[2] = a[2].float()
    pred = torch.zeros(t, h, w, dtype=torch.bool)
    pred[1] = b[1]  # frame 1 (silent): predicts the distractor
    pred[2, 0, :2] = True  # frame 2: half of A
    inst = [
        {"mask": a, "sounding": torch.tensor([False, False, True])},
        {"mask": b.numpy(), "sounding": [False, False, False], "distractor": True},
    ]
    return pred, gt, inst


def test_diagnostics_by_hand():
    pred, gt, inst = diag_clip()
    out = binary_diagnostics(pred, gt, instances=inst)
    assert (out["n_frames"], out["n_silent"], out["n_single"], out["n_multi"]) == (3, 2, 1, 0)
    assert out["miou_all"] == pytest.approx((1 + 0.75 + 0.5) / 3, abs=1e-6)
    assert out["miou_silent"] == pytest.approx(0.875, abs=1e-6)
    assert out["miou_single"] == pytest.approx(0.5, abs=1e-6)
    assert out["miou_sounding"] == pytest.approx(0.5, abs=1e-6)
    assert math.isnan(out["miou_multi"])
    assert out["silent_empty_rate"] == pytest.approx(0.5)
    assert out["silent_fp_area"] == pytest.approx(0.125)
    assert out["distractor_fp"] == pytest.approx(1 / 3)
    assert out["silent_instance_fp"] == pytest.approx(1 / 5)
    assert out["sounding_recall"] == pytest.approx(0.5)
    assert out["sounding_recall_per_instance"] == pytest.approx([0.5])
    # miou_all equals the official per-batch value on the same frames
    assert out["miou_all"] == pytest.approx(mask_iou(pred, gt), abs=1e-6)


def test_diagnostics_num_sources_and_meter_accumulates():
    pred, gt, inst = diag_clip()
    meter = FrameTypeMeter()
    meter.update(pred, gt, num_sources=[0, 0, 2])
    meter.update(pred, gt, instances=inst)
    out = meter.compute()
    assert (out["n_frames"], out["n_silent"], out["n_single"], out["n_multi"]) == (6, 4, 1, 1)
    assert out["miou_multi"] == pytest.approx(0.5) and out["miou_single"] == pytest.approx(0.5)
    assert out["n_distractor_units"] == 3 and out["n_sounding_units"] == 1
    # logits work like the hard mask
    logits = pred.float() * 20 - 10
    d_logits = binary_diagnostics(logits, gt, instances=inst)
    d_hard = binary_diagnostics(pred, gt, instances=inst)
    assert d_logits.keys() == d_hard.keys()
    for k, v in d_hard.items():
        assert d_logits[k] == v or (isinstance(v, float) and math.isnan(v) and math.isnan(d_logits[k])), k


def test_diagnostics_without_instances():
    pred, gt, _ = diag_clip()
    out = binary_diagnostics(pred, gt)
    assert out["n_sounding"] == 1 and out["n_single"] == 0
    assert math.isnan(out["distractor_fp"]) and out["sounding_recall_per_instance"] == []


# ------------------------------------------------------------------ validation
def test_validation_errors():
    lg = torch.zeros(2, 4, 4)
    with pytest.raises(ValueError, match="does not match"):
        mask_iou(lg, torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="does not match"):
        f_measure(lg, torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        mask_iou(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="0/255"):
        mask_iou(lg, torch.full((2, 4, 4), 255.0))
    with pytest.raises(ValueError, match="does not match"):
        BinaryMeter().update(torch.zeros(5, 4, 4), torch.zeros(5, 4, 3))
    with pytest.raises(ValueError, match="batch_videos"):
        BinaryMeter(batch_videos=0)
    with pytest.raises(ValueError, match="no clips"):
        BinaryMeter().compute()
    sm = SemanticMeter(num_classes=3)
    with pytest.raises(ValueError, match="does not match"):
        sm.update(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="classes"):
        sm.update(torch.zeros(2, 5, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        sm.update(torch.zeros(2, 4, 4, dtype=torch.long), torch.full((2, 4, 4), 7))
    with pytest.raises(ValueError, match="does not match"):
        sm.update(torch.zeros(2, 4, 4, dtype=torch.long), torch.zeros(2, 4, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="frame_valid"):
        sm.update(
            torch.zeros(2, 4, 4, dtype=torch.long), torch.zeros(2, 4, 4, dtype=torch.long), frame_valid=[True]
        )
    with pytest.raises(ValueError, match="instances\\[0\\]"):
        bad = [{"mask": torch.zeros(2, 4, 3), "sounding": [0, 1]}]
        binary_diagnostics(lg, torch.zeros(2, 4, 4), instances=bad)
    with pytest.raises(ValueError, match="num_sources"):
        binary_diagnostics(lg, torch.zeros(2, 4, 4), num_sources=[1, 1, 1])
    with pytest.raises(TypeError, match="torch.Tensor"):
        mask_iou([[0.0]], [[0.0]])
    assert np.isfinite(mask_iou(lg.numpy(), np.zeros((2, 4, 4), dtype=np.float32)))


# --------------------------------------------------------------------------- the mechanism (split loss)
def _mechanism_case():
    """One frame of four pixels, background + 3 classes; worked by hand:

    pixel  scores (bg, c1, c2, c3)   GT   argmax  Σ_{c≥1} > bg
    a      .40 .30 .30 .00           1    bg      .60 > .40 yes  -> lost to the split
    b      .20 .70 .10 .00           1    c1      yes            -> found
    c      .60 .20 .10 .10           2    bg      .40 < .60 no   -> a true miss, not split loss
    d      .50 .30 .30 .00           0    bg      yes            -> pooled foreground marks background
    """
    scores = torch.tensor(
        [
            [0.40, 0.30, 0.30, 0.00],
            [0.20, 0.70, 0.10, 0.00],
            [0.60, 0.20, 0.10, 0.10],
            [0.50, 0.30, 0.30, 0.00],
        ]
    ).T.reshape(1, 4, 1, 4)  # [N=1, C=4, H=1, W=4]
    labels = torch.tensor([[[1, 1, 2, 0]]])  # [1, 1, 4]
    return scores, labels


def test_split_loss_and_pooled_foreground_by_hand():
    from stepstones_lite.metrics import MechanismMeter, pooled_foreground, split_loss_pixels

    scores, labels = _mechanism_case()
    assert pooled_foreground(scores).tolist() == [[[True, True, False, True]]]
    assert split_loss_pixels(scores, labels) == (1, 3)  # pixel a of the three sounding pixels a, b, c
    meter = MechanismMeter()
    meter.update(scores, labels)
    out = meter.compute()
    assert out["split_loss"] == pytest.approx(1 / 3)
    # pooled foreground {a, b, d} vs GT {a, b, c}: IoU 2/4; the argmax reading {b} scores 1/3
    assert out["pooled_binary_miou"] == pytest.approx(0.5, abs=1e-6)
    argmax = BinaryMeter()
    argmax.update(torch.where(scores.argmax(1) > 0, 1.0, -1.0), (labels > 0).float())
    assert argmax.compute()["miou"] == pytest.approx(1 / 3, abs=1e-6)


def test_split_loss_is_zero_when_one_class_holds_the_mass():
    """The same pooled mass on one class wins the argmax: nothing is lost to the split."""
    from stepstones_lite.metrics import MechanismMeter

    scores, labels = _mechanism_case()
    scores[0, 1, 0, 0], scores[0, 2, 0, 0] = 0.6, 0.0  # pixel a: all its sounding mass on class 1
    meter = MechanismMeter()
    meter.update(scores, labels)
    assert meter.compute()["split_loss"] == 0.0
