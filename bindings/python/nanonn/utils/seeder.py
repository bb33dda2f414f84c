"""Seeding, as tinynn's ``tinynn.utils.seeder``."""

import random

import numpy as np

__all__ = ["random_seed"]


def random_seed(seed):
    """Seeds Python's and numpy's generators. Models made afterwards without a ``seed`` draw
    theirs from numpy, so their initialisation and dropout repeat too."""
    random.seed(seed)
    np.random.seed(seed)
