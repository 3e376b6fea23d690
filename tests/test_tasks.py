"""The AVSS task's prior during training: the paper's teacher forcing and the stage2_train_prior
deviations."""

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


class _Echo(torch.nn.Module):
    """A stand-in model that records its inputs and returns fixed Mask2Former outputs (2 queries, C = 2)."""

    def __init__(self, tpavi: bool = False) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.tpavi, self.seen = tpavi, {}

    def forward(self, frames, log_mel, prior=None):
        self.seen = {"frames": frames.shape, "log_mel": log_mel.clone(), "prior": prior}
        n = frames.shape[0]
        if self.tpavi:
            logits = torch.zeros(n, 3, 2, 2)
            logits[:, 2] = 1.0  # class 2 wins everywhere
            return {"sem_logits": logits}
        pred_logits = torch.tensor([[5.0, -5.0, -5.0], [-5.0, 5.0, -5.0]]).expand(
            n, 2, 3
        )  # q0 bg, q1 sounding
        masks = torch.full((n, 2, 4, 4), -9.0)
        masks[:, 1, :, :2] = 9.0  # q1 covers the left half
        masks[:, 0, :, 2:] = 9.0  # q0 the right half
        return {"pred_logits": pred_logits, "pred_masks": masks}


def test_predict_one_clip_or_a_batch_with_every_prior_and_output():
    from stepstones_lite.train.predict import SILENT_LOG_MEL, predict

    clip = {
        "frames": torch.rand(3, 3, 8, 8),
        "log_mel": torch.randn(3, 1, 96, 64),
        "labels": torch.zeros(3, 4, 4, dtype=torch.long),
        "masks": torch.zeros(3, 4, 4),
        "prior": torch.ones(3, 4, 4),
    }
    clip["labels"][:, 0] = 7
    model = _Echo()
    labels = predict(model, clip)
    assert labels.shape == (3, 4, 4) and labels[:, :, :2].eq(1).all() and labels[:, :, 2:].eq(0).all()
    assert model.seen["prior"] is None
    logits = predict(model, clip, output="logits", muted=True)
    assert (logits[:, :, :2] > 0).all() and (logits[:, :, 2:] < 0).all()
    assert torch.equal(model.seen["log_mel"], torch.full((3, 1, 96, 64), SILENT_LOG_MEL))
    predict(model, clip, "dataset")
    assert torch.equal(model.seen["prior"], clip["prior"])
    predict(model, clip, "gt")
    assert torch.equal(model.seen["prior"], (clip["labels"] > 0).float())
    batch = {k: v.unsqueeze(0).expand(2, *v.shape) for k, v in clip.items()}  # [B=2, T=3, ...]
    assert predict(model, batch, output="scores").shape == (6, 2, 4, 4)  # frames folded into N
    assert predict(_Echo(tpavi=True), clip).eq(2).all()  # the TPAVI-style head: per-pixel softmax
    with pytest.raises(ValueError, match="output"):
        predict(model, clip, output="masks")
    with pytest.raises(ValueError, match="prior"):
        predict(model, clip, "oracle")


def test_gate_sets_every_pixel_outside_the_mask_to_background(monkeypatch):
    """The payoff ladder's middle rung: an end-to-end model's scores with a mask applied after the fact."""
    import stepstones_lite.train.tasks as tasks

    scores = torch.zeros(2, 3, 2, 2)  # [N, C, H, W]
    scores[:, 2] = 0.9  # class 2 wins everywhere
    scores[:, 0] = 0.1
    monkeypatch.setattr(tasks, "predict", lambda model, batch, prior, output: scores.clone())
    labels = torch.tensor([[[[2, 0], [0, 0]], [[0, 0], [0, 2]]]])  # [B=1, T=2, H, W]
    prior = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]])  # top row of frame 0 only
    batch = {"labels": labels, "prior": prior}
    assert torch.equal(
        AVSSTask(criterion=None, use_prior=False).predict(None, batch), torch.full((2, 2, 2), 2)
    )
    by_prior = AVSSTask(criterion=None, use_prior=False, gate="dataset")
    assert by_prior.predict(None, batch).tolist() == [[[2, 2], [0, 0]], [[0, 0], [0, 0]]]
    gated = by_prior.scores(None, batch)
    assert gated[1, :, 0, 0].tolist() == [1.0, 0.0, 0.0]  # outside: all mass on background
    assert torch.equal(gated[0, :, 0, 0], scores[0, :, 0, 0])  # inside: untouched
    by_gt = AVSSTask(criterion=None, use_prior=False, gate="gt")
    assert by_gt.predict(None, batch).tolist() == [[[2, 0], [0, 0]], [[0, 0], [0, 2]]]
    with pytest.raises(KeyError, match="prior_root"):
        by_prior.scores(None, {"labels": labels})
    with pytest.raises(ValueError, match="gate"):
        AVSSTask(criterion=None, gate="stage1")
