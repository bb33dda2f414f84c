"""tinynn's MNIST MLP, trained through nanonn's Python package: 784-400-100-10, ReLU,
softmax cross-entropy, Adam(1e-3).

The training loop is tinynn's (``examples/mnist/run.py``) with ``tinynn`` replaced by
``nanonn`` in the imports. Prints one line per epoch in tinynn's form and
``test_accuracy=0.XXXX`` last.

    python bindings/python/examples/mnist.py [--data DIR] [--num_ep N] [--batch_size N]
        [--lr F] [--schedule cosine|constant] [--seed N]

Defaults: 1 epoch, batch 16, and the rate annealed from 1e-3 to 0 over the run (cosine, as
the C example): that takes one epoch to >= 0.97 test accuracy; tinynn's batch 128 with a
constant rate gives about 0.964 after one epoch.
"""

import argparse
import os
import time

import numpy as np

from nanonn.core.layer import Dense, ReLU
from nanonn.core.loss import SoftmaxCrossEntropy
from nanonn.core.model import Model
from nanonn.core.net import Net
from nanonn.core.optimizer import Adam, CosineLR
from nanonn.utils.data_iterator import BatchIterator
from nanonn.utils.dataset import load_mnist
from nanonn.utils.metric import accuracy
from nanonn.utils.seeder import random_seed


def main(args):
    if args.seed >= 0:
        random_seed(args.seed)

    (train_x, train_y), (test_x, test_y) = load_mnist(args.data)

    net = Net([Dense(400), ReLU(), Dense(100), ReLU(), Dense(10)])
    model = Model(net=net, loss=SoftmaxCrossEntropy(), optimizer=Adam(lr=args.lr))

    iterator = BatchIterator(batch_size=args.batch_size)
    scheduler = None
    if args.schedule == "cosine":
        steps = args.num_ep * -(-len(train_x) // args.batch_size)
        scheduler = CosineLR(model.optimizer, total_steps=max(steps, 1))

    res = {"accuracy": 0.0}
    for epoch in range(args.num_ep):
        t_start = time.time()
        for batch in iterator(train_x, train_y):
            pred = model.forward(batch.inputs)
            loss, grads = model.backward(pred, batch.targets)
            model.apply_grads(grads)
            if scheduler is not None:
                scheduler.step()
        seconds = time.time() - t_start
        # evaluate
        model.set_phase("TEST")
        test_pred = model.forward(test_x)
        test_pred_idx = np.argmax(test_pred, axis=1)
        res = accuracy(test_pred_idx, test_y)
        print(
            "Epoch %d {total_num: %d, hit_num: %d, accuracy: %.4f} time=%.2fs"
            % (epoch, res["total_num"], res["hit_num"], res["accuracy"], seconds)
        )
        model.set_phase("TRAIN")
    print("test_accuracy=%.4f" % res["accuracy"])


if __name__ == "__main__":
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(repo, "data", "mnist"))
    parser.add_argument("--num_ep", "--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch_size", "--batch-size", type=int, default=16)
    parser.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    parser.add_argument("--seed", type=int, default=31)
    main(parser.parse_args())
