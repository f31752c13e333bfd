"""The Ray executor: a driver (driver.py) that submits trials and writes the results folder,
the worker side (worker.py) that trains them, and test-only fault hooks (faults.py)."""
