"""mse_loss whose backward detaches the input: the first derivative is right, its own derivative
(the double backward) loses the input's part, 2/n w. Only the gradgrad check fails."""

from _transform_mse import MSE, first_derivative, mse_loss_with


class WrongSecondDerivative(MSE):
    @staticmethod
    def backward(ctx, grad):
        input, target = ctx.saved_tensors
        derivative = first_derivative(input.detach(), target, grad, ctx.reduction)  # planted: no detach is right
        return derivative, -derivative, None


# torch answers the calls it is not rewritten for: its known divergences are this port's too.
INHERITS_TORCH_DIVERGENCES = True

mse_loss = mse_loss_with(WrongSecondDerivative)
