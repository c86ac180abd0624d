"""mse_loss with a batching rule that mixes the samples: under vmap each sample's loss is the mean
of its own and the next sample's. Unbatched calls, gradients and forward mode are right: only the
vmap check fails."""

import torch
from _transform_mse import MSE, mse_loss_with


class MixingBatches(MSE):
    generate_vmap_rule = False

    @staticmethod
    def vmap(info, in_dims, input, target, reduction):
        input, target = (x.movedim(d, 0) if d is not None else x.expand(info.batch_size, *x.shape)
                         for x, d in zip((input, target), in_dims[:2], strict=True))
        per_sample = MSE.apply(input, target, "none")
        if reduction != "none":
            dims = tuple(range(1, per_sample.dim()))
            per_sample = per_sample.mean(dims) if reduction == "mean" else per_sample.sum(dims)
        return (per_sample + torch.roll(per_sample, 1, 0)) / 2, 0  # planted: per_sample alone is right


# torch answers the calls it is not rewritten for: its known divergences are this port's too.
INHERITS_TORCH_DIVERGENCES = True

mse_loss = mse_loss_with(MixingBatches)
