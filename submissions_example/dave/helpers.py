"""Small helpers I wrote for HW1 and keep reusing."""

import numpy as np


def sigmoid(z):
    """Logistic function, works on numbers and numpy arrays."""
    return 1.0 / (1.0 + np.exp(-z))


def dense_layer_params(fan_in, fan_out):
    """Trainable parameters of one fully connected layer: weights + biases."""
    return fan_in * fan_out + fan_out
