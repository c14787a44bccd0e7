"""Physical reservoirs: ESN, spin-torque oscillators, delay node, superparamagnetic MTJs,
and networks of them. Each is a :class:`Reservoir` (device + input/coupling weights)."""

from physlearning.substrates.reservoirs.base import Device, DeviceError, Reservoir, check_finite
from physlearning.substrates.reservoirs.delay import DelayNode, make_delay
from physlearning.substrates.reservoirs.esn import LeakyTanh, make_esn
from physlearning.substrates.reservoirs.mtj import SMTJ, make_mtj
from physlearning.substrates.reservoirs.network import DeviceNetwork
from physlearning.substrates.reservoirs.stno import STNO, make_stno

MAKERS = {"esn": make_esn, "stno": make_stno, "delay": make_delay, "mtj": make_mtj}

__all__ = ["Device", "DeviceError", "Reservoir", "check_finite", "DelayNode", "LeakyTanh", "SMTJ", "STNO",
           "DeviceNetwork", "make_delay", "make_esn", "make_mtj", "make_stno", "MAKERS"]
