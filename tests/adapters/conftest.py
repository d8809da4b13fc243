"""The adapter tests use the fabric tests' real Mosquitto (`make_broker`) and `run`."""

from tests.fabric.conftest import make_broker, run

__all__ = ["make_broker", "run"]
