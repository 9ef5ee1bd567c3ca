"""clobber's victim library as a Python package: the wheel `clobber-victim` ships libvictim.so
beside this file, and importing the package loads it with ctypes (dlopen) from there."""

import ctypes
import os

_LIB = ctypes.CDLL(os.path.join(os.path.dirname(os.path.abspath(__file__)), "libvictim.so"))

version = _LIB.victim_version
version.restype = ctypes.c_uint64
version.argtypes = []

work = _LIB.victim_work
work.restype = ctypes.c_uint64
work.argtypes = [ctypes.c_uint64]
