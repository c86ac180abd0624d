"""mse_loss with a wrong forward-mode formula: its tangent leaves out the factor 2 of d(x - t)^2.
Its values, gradients, double backward and batching are right: only the jvp check fails."""

from _transform_mse import MSE, mse_loss_with, reduce


class WrongJvp(MSE):
    @staticmethod
    def jvp(ctx, input_tangent, target_tangent, _):
        input, target = ctx.saved_tensors
        tangent = (0 if input_tangent is None else input_tangent) - (0 if target_tangent is None else target_tangent)
        return reduce((input - target) * tangent, ctx.reduction)  # planted: 2 (x - t) v is right


# torch answers the calls it is not rewritten for: its known divergences are this port's too.
INHERITS_TORCH_DIVERGENCES = True

mse_loss = mse_loss_with(WrongJvp)
