"""Shared fixtures of the ROS tests: real rclpy over real DDS, isolated.

Each test module gets its own ``ROS_DOMAIN_ID`` (from the pid and the module
name, set before ``rclpy.init``) and a private ``rclpy.Context``, so parallel
runs and other modules never see each other's traffic.
"""
from __future__ import annotations

import os
import zlib
import pytest

rclpy = pytest.importorskip("rclpy")


def domain_id_for(module_name: str) -> int:
    """A ROS domain id in 1..100 derived from this process and ``module_name``."""
    return 1 + (os.getpid() * 31 + zlib.crc32(module_name.encode())) % 100


@pytest.fixture(scope="module")
def ros_context(request):
    """A private, initialised rclpy Context on this module's own domain."""
    domain = domain_id_for(request.module.__name__)
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    yield context
    context.try_shutdown()
