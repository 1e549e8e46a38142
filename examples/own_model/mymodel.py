"""A two-layer neural network in NumPy, written as in course 1 of Andrew Ng's Deep Learning
Specialization (planar data classification with one hidden layer), with a softmax output for
the ten digits and mini-batches from course 2.

hpsearch calls ``train(settings, data, seed=...)`` once per trial and reads one dict of metrics
per epoch from it, then ``evaluate`` once on the chosen trial's parameters and the test split
(see README.md). Shapes follow the course: samples are columns.

    X  (n_x, m)     W1 (n_h, n_x)   b1 (n_h, 1)   A1 (n_h, m)
    Y  (n_y, m)     W2 (n_y, n_h)   b2 (n_y, 1)   A2 (n_y, m)   (one-hot Y, n_y classes)
"""

from __future__ import annotations

import numpy as np


def layer_sizes(X, Y, n_h):
    """n_x: input features, n_h: hidden units, n_y: classes."""
    return X.shape[0], n_h, Y.shape[0]


def initialize_parameters(n_x, n_h, n_y, rng):
    """Small random weights (so tanh starts in its linear part), zero biases."""
    W1 = rng.standard_normal((n_h, n_x)) * 0.01
    b1 = np.zeros((n_h, 1))
    W2 = rng.standard_normal((n_y, n_h)) * 0.01
    b2 = np.zeros((n_y, 1))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def softmax(Z):
    T = np.exp(Z - Z.max(axis=0, keepdims=True))  # shifted: no overflow
    return T / T.sum(axis=0, keepdims=True)


def forward_propagation(X, parameters):
    """LINEAR -> TANH -> LINEAR -> SOFTMAX; the cache keeps what backward needs."""
    W1, b1, W2, b2 = (parameters[k] for k in ("W1", "b1", "W2", "b2"))
    Z1 = W1 @ X + b1  # (n_h, m)
    A1 = np.tanh(Z1)  # (n_h, m)
    Z2 = W2 @ A1 + b2  # (n_y, m)
    A2 = softmax(Z2)  # (n_y, m)
    assert A2.shape == (W2.shape[0], X.shape[1])
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def compute_cost(A2, Y):
    """Cross-entropy: -1/m sum over samples and classes of Y log A2."""
    m = Y.shape[1]
    return float(-np.sum(Y * np.log(A2 + 1e-12)) / m)


def backward_propagation(parameters, cache, X, Y):
    """The gradients of the cost; dZ2 = A2 - Y for softmax with cross-entropy."""
    m = X.shape[1]
    W2 = parameters["W2"]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y  # (n_y, m)
    dW2 = dZ2 @ A1.T / m  # (n_y, n_h)
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m  # (n_y, 1)
    dZ1 = (W2.T @ dZ2) * (1 - np.power(A1, 2))  # (n_h, m): tanh'(Z1) = 1 - A1^2
    dW1 = dZ1 @ X.T / m  # (n_h, n_x)
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m  # (n_h, 1)
    assert dW1.shape == parameters["W1"].shape and dW2.shape == W2.shape
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def update_parameters(parameters, grads, learning_rate):
    """One step of gradient descent: W := W - alpha dW."""
    return {k: parameters[k] - learning_rate * grads["d" + k] for k in parameters}


def one_hot(y, n_y):
    """Labels (m,) -> Y (n_y, m)."""
    Y = np.zeros((n_y, y.shape[0]))
    Y[y, np.arange(y.shape[0])] = 1.0
    return Y


def random_mini_batches(X, Y, batch_size, rng):
    """Shuffle the columns, then cut them into batches (the last one may be smaller)."""
    m = X.shape[1]
    permutation = rng.permutation(m)
    X, Y = X[:, permutation], Y[:, permutation]
    return [(X[:, k : k + batch_size], Y[:, k : k + batch_size]) for k in range(0, m, batch_size)]


def predict(parameters, X):
    """The most likely class of each column of X."""
    A2, _ = forward_propagation(X, parameters)
    return np.argmax(A2, axis=0)


def loss_and_accuracy(parameters, X, Y):
    """(cost, accuracy) on a whole split."""
    A2, _ = forward_propagation(X, parameters)
    return compute_cost(A2, Y), float(np.mean(np.argmax(A2, axis=0) == np.argmax(Y, axis=0)))


def evaluate(parameters, X, y):
    """What hpsearch calls once, after the search, to score the chosen trial on the test split:
    its returned parameters, X (n_x, m) and labels y (m,)."""
    n_y = parameters["W2"].shape[0]
    return loss_and_accuracy(parameters, X, one_hot(y, n_y))


def train(settings, data, *, seed):
    """What hpsearch calls: train a two-layer network, yielding each epoch's metrics.

    settings: the [train] and [space] values of search.toml (learning_rate, n_h, epochs,
    batch_size); data: the train and dev splits (data.X_train is (n_x, m)); seed: this trial's.
    """
    rng = np.random.default_rng(seed)  # every random draw comes from the trial's seed
    Y_train = one_hot(data.y_train, data.n_classes)
    Y_dev = one_hot(data.y_dev, data.n_classes)
    n_x, n_h, n_y = layer_sizes(data.X_train, Y_train, int(settings["n_h"]))
    parameters = initialize_parameters(n_x, n_h, n_y, rng)
    learning_rate = settings["learning_rate"]
    for _ in range(settings.get("epochs", 20)):
        costs = []
        for X_batch, Y_batch in random_mini_batches(
            data.X_train, Y_train, settings.get("batch_size", 64), rng
        ):
            A2, cache = forward_propagation(X_batch, parameters)
            costs.append(compute_cost(A2, Y_batch))
            grads = backward_propagation(parameters, cache, X_batch, Y_batch)
            parameters = update_parameters(parameters, grads, learning_rate)
        train_loss, train_accuracy = loss_and_accuracy(parameters, data.X_train, Y_train)
        dev_loss, dev_accuracy = loss_and_accuracy(parameters, data.X_dev, Y_dev)
        yield {
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "dev_loss": dev_loss,
            "dev_accuracy": dev_accuracy,
            "mean_batch_cost": float(np.mean(costs)),  # any other number is stored too
        }
    return parameters  # optional: counted as n_params; the best trial's are kept for evaluate
