"""`python -m bench.chaos`: the whole chaos run (see bench/chaos/run.py)."""

from bench.chaos.run import main

if __name__ == "__main__":
    main()
