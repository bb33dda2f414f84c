"""Metrics, as tinynn's ``tinynn.utils.metric``."""

import numpy as np

__all__ = ["accuracy"]


def accuracy(predictions, targets):
    """``{"total_num", "hit_num", "accuracy"}`` of predicted class indices against true ones."""
    predictions, targets = np.asarray(predictions), np.asarray(targets)
    if predictions.shape != targets.shape:
        raise ValueError("shapes differ: %r and %r" % (predictions.shape, targets.shape))
    total_num = len(predictions)
    hit_num = int(np.sum(predictions == targets))
    return {
        "total_num": total_num,
        "hit_num": hit_num,
        "accuracy": 1.0 * hit_num / total_num if total_num else 0.0,
    }
