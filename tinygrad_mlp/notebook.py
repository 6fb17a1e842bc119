"""The original notebook's classes, as the notebook wrote them: ``sigmoid``,
``sigmoid_prime``, ``FCLayer`` and ``MLP`` with ``predict`` and ``backward``.

Plain numpy, every derivative by hand, no Tensor anywhere: this is the code
``tinygrad-mlp verify --layers`` hands to :func:`tinygrad_mlp.layercheck.check_backward`
unchanged, to show that a learner's own layers can be checked without a rewrite. (The
refactored reference that ``verify`` uses is :mod:`tinygrad_mlp.manual`.) The code is
kept in the notebook's style on purpose, without type hints; ``MLP.backward`` takes
``dout = dL/d(y_pred)`` (the notebook passed ``y_pred - y``).
"""

import numpy as np


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return 1 / (1 + np.exp(-x))


def sigmoid_prime(x):
    """The derivative of the sigmoid at x: s(x) * (1 - s(x))."""
    return sigmoid(x) * (1 - sigmoid(x))


class FCLayer:
    """A fully connected layer: out = x W + b."""

    def __init__(self, input_size, output_size):
        self.W = np.random.randn(input_size, output_size) * 0.01
        self.b = np.zeros(output_size)

    def forward(self, x):
        """out = x W + b, keeping x for backward."""
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        """dW = x.T dout, db = sum of dout over the batch; returns dx = dout W.T."""
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        dx = np.dot(dout, self.W.T)
        return dx


class MLP:
    """784-128-64-32-10, a sigmoid after every layer."""

    def __init__(self):
        self.layer1 = FCLayer(784, 128)
        self.layer2 = FCLayer(128, 64)
        self.layer3 = FCLayer(64, 32)
        self.layer4 = FCLayer(32, 10)

    def predict(self, x):
        """Forward through the four layers, keeping each pre-activation for backward."""
        self.z1 = self.layer1.forward(x)
        self.a1 = sigmoid(self.z1)
        self.z2 = self.layer2.forward(self.a1)
        self.a2 = sigmoid(self.z2)
        self.z3 = self.layer3.forward(self.a2)
        self.a3 = sigmoid(self.z3)
        self.z4 = self.layer4.forward(self.a3)
        self.a4 = sigmoid(self.z4)
        return self.a4

    def backward(self, dout):
        """Backpropagate dout = dL/d(y_pred) through every layer and sigmoid."""
        dout = dout * sigmoid_prime(self.z4)
        dout = self.layer4.backward(dout)
        dout = dout * sigmoid_prime(self.z3)
        dout = self.layer3.backward(dout)
        dout = dout * sigmoid_prime(self.z2)
        dout = self.layer2.backward(dout)
        dout = dout * sigmoid_prime(self.z1)
        dout = self.layer1.backward(dout)
        return dout

    def update(self, learning_rate):
        """One SGD step on every layer."""
        for layer in [self.layer1, self.layer2, self.layer3, self.layer4]:
            layer.W -= learning_rate * layer.dW
            layer.b -= learning_rate * layer.db
