"""Reference epsilons from Google's dp-accounting (its RdpAccountant), for dfma's accountant.

usage: dp_reference.py [--orders A,B,...] [--delta D]
Prints one line per grid point, `sigma q steps epsilon order`, for sigma in {0.8, 1, 2, 5},
sampling rate q in {0.001, 0.01, 0.1, 1} and steps T in {1, 100, 1000}: T compositions of the
Poisson-sampled Gaussian mechanism, epsilon at delta (default 1e-5) over the given RDP orders
(default: dp-accounting's own), with the add-or-remove-one neighbouring relation.
Floats are printed with repr(), so they read back exactly.
"""
import argparse

import dp_accounting
from dp_accounting import rdp

SIGMAS = (0.8, 1.0, 2.0, 5.0)
RATES = (0.001, 0.01, 0.1, 1.0)
STEPS = (1, 100, 1000)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", help="comma-separated RDP orders")
    parser.add_argument("--delta", type=float, default=1e-5)
    args = parser.parse_args()
    orders = [float(o) for o in args.orders.split(",")] if args.orders else None
    for sigma in SIGMAS:
        for q in RATES:
            for steps in STEPS:
                accountant = rdp.RdpAccountant(orders)
                event = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma))
                accountant.compose(event, steps)
                epsilon, order = accountant.get_epsilon_and_optimal_order(args.delta)
                print(f"{sigma!r} {q!r} {steps} {float(epsilon)!r} {float(order)!r}")


if __name__ == "__main__":
    main()
