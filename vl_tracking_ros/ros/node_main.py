"""The ``main()`` every spinning node executable shares.

rclpy.init / spin / clean shutdown with try/finally (not ``with
rclpy.init()``), a parameter error printed as one clear line with exit code
2, and Ctrl-C / external shutdown as a clean exit 0.
"""
from __future__ import annotations

import sys
from typing import Callable, Optional, Tuple, Type

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from . import params as P


def spin_main(name: str, make_node: Callable[[], Node], argv: Optional[list] = None,
               spin: Callable[[Node], None] = rclpy.spin,
               errors: Tuple[Type[BaseException], ...] = (P.ParameterError,)) -> int:
    """Create the node with ``make_node()`` and run ``spin(node)`` (default:
    until shutdown). Exceptions in ``errors`` (bad parameters / inputs) are
    printed as one line and give exit code 2."""
    rclpy.init(args=argv)
    node = None
    try:
        node = make_node()
        spin(node)
        return 0
    except errors as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
