"""The AVSS task's prior during training: the paper's teacher forcing and the stage2_train_prior deviations."""
import pytest
import torch

from stepstones_lite.train.tasks import TRAIN_PRIORS, AVSSTask


def _batch(clips: int = 8) -> dict:
    labels = torch.zeros(clips, 2, 4, 4, dtype=torch.long)  # [B, T, H, W]
    labels[:, :, :2] = 5  # the GT object: the top half
    prior = torch.zeros(clips, 2, 4, 4)
    prior[:, :, :, :2] = 1.0  # the stage-1 prior: the left half (partly wrong)
    return {"labels": labels, "prior": prior}


def test_training_prior_follows_the_lever():
    batch = _batch()
    gt, stage1 = (batch["labels"] > 0).float().flatten(0, 1), batch["prior"].flatten(0, 1)
    paper = AVSSTask(criterion=None)
    assert torch.equal(paper._prior(batch, training=True), gt)  # teacher forcing: GT even with a prior folder
    assert torch.equal(paper._prior(batch, training=False), stage1)  # test: the stage-1 prior
    assert torch.equal(AVSSTask(criterion=None, eval_prior="gt")._prior(batch, training=False), gt)
    task = AVSSTask(criterion=None, train_prior="stage1")
    assert torch.equal(task._prior(batch, training=True), stage1)
    assert torch.equal(task._prior(batch, training=False), stage1)
    with pytest.raises(KeyError, match="prior_root"):
        task._prior({"labels": batch["labels"]}, training=True)
    assert AVSSTask(criterion=None, use_prior=False)._prior(batch, training=True) is None


def test_mixed_prior_is_a_whole_clip_coin_with_even_odds():
    torch.manual_seed(0)
    batch = _batch(clips=400)
    got = AVSSTask(criterion=None, train_prior="mixed")._prior(batch, training=True).view(400, 2, 4, 4)
    is_stage1 = [torch.equal(c, p) for c, p in zip(got, batch["prior"])]
    is_gt = [torch.equal(c, (g > 0).float()) for c, g in zip(got, batch["labels"])]
    assert all(a != b for a, b in zip(is_stage1, is_gt))  # every clip is one or the other, both frames alike
    assert 160 < sum(is_stage1) < 240  # even odds (binomial 400, 1/2: sd 10)


def test_unknown_training_prior_is_refused():
    assert TRAIN_PRIORS == ("gt", "stage1", "mixed")
    with pytest.raises(ValueError, match="train_prior"):
        AVSSTask(criterion=None, train_prior="noisy")
