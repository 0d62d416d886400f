"""Evaluation tooling: task runs (`memstack eval tasks`), memory fidelity, figures and traces.

The only code of the package that reads the simulator's ground truth.
"""
