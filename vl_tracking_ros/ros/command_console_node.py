"""command_console_node: type tracking commands, publish them on ``command``.

    ros2 run vl_tracking_ros command_console_node
    command> track the red ball
    command> track all people; track the dog
    command> stop

On a terminal it is an interactive prompt with line editing and history
(readline; history kept in ``~/.cache/vl_tracking_ros/console_history``).
Piped, it publishes every input line and exits at end of input::

    echo "track the red ball" | ros2 run vl_tracking_ros command_console_node

Before the first publish it waits (``match_timeout_s``) for a subscriber to
match, and before exiting it waits until reliable delivery is acknowledged
(``linger_s``), so a piped command is not lost to discovery timing.
``stop`` is published like any command (the tracker clears on it);
``help`` prints the grammar; ``quit`` / ``exit`` / Ctrl-D leave.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Iterable, Optional, TextIO

import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from . import params as P

GRAMMAR = """commands:
  track <expression>         follow the single best match, e.g. "track the red ball"
  track all <expression>     follow every match, e.g. "track all people"
  a; b                       several commands at once
  add <command>              add to the active commands
  stop                       clear all commands
  help | quit"""

COMMAND_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=10)


class CommandConsoleNode(Node):
    """Publishes text commands on ``command`` (std_msgs/String, reliable)."""

    def __init__(self, node_name: str = "command_console_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.config = P.console_config(P.declare_and_read(self, P.CONSOLE_PARAMS))
        self.publisher = self.create_publisher(String, "command", COMMAND_QOS)
        self.published = 0

    def wait_for_subscriber(self, timeout_s: float) -> bool:
        """Block until a subscriber matched ``command`` (True) or timeout (False)."""
        deadline = time.monotonic() + timeout_s
        while self.publisher.get_subscription_count() == 0:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def send(self, text: str) -> None:
        self.publisher.publish(String(data=text))
        self.published += 1

    def flush(self, timeout_s: float) -> bool:
        """Wait until every reliable subscriber acknowledged what was sent."""
        if self.published == 0 or timeout_s <= 0:
            return True
        return bool(self.publisher.wait_for_all_acked(Duration(nanoseconds=int(timeout_s * 1e9))))


def _setup_readline() -> Optional[str]:
    try:
        import readline
    except ImportError:  # pragma: no cover - platform without readline
        return None
    path = os.path.join(os.path.expanduser("~"), ".cache", "vl_tracking_ros", "console_history")
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.exists(path):
            readline.read_history_file(path)
        readline.set_history_length(1000)
    except OSError:
        return None
    return path


def _lines(stream: TextIO, interactive: bool, prompt: str) -> Iterable[str]:
    if interactive:
        while True:
            try:
                yield input(prompt)
            except EOFError:
                print()
                return
    else:
        for line in stream:
            yield line


def run_console(node: CommandConsoleNode, stream: TextIO, interactive: bool, out: TextIO = sys.stdout) -> int:
    """Read commands from ``stream`` and publish them; returns the exit code."""
    cfg = node.config
    history = _setup_readline() if interactive else None
    matched = False
    try:
        for raw in _lines(stream, interactive, cfg.prompt):
            text = raw.strip()
            if not text:
                continue
            if text.lower() in ("quit", "exit"):
                break
            if text.lower() in ("help", "?"):
                print(GRAMMAR, file=out)
                continue
            if not matched:
                matched = node.wait_for_subscriber(0.0 if interactive else cfg.match_timeout_s)
                if not matched and not interactive:
                    node.get_logger().warning(
                        f"no subscriber on {node.publisher.topic_name} after {cfg.match_timeout_s:.1f} s; "
                        "publishing anyway (is tracker_node running?)")
                    matched = True
            node.send(text)
            if interactive:
                print(f"sent: {text}", file=out)
    except KeyboardInterrupt:
        print(file=out)
    finally:
        if history:
            try:
                import readline

                readline.write_history_file(history)
            except OSError:
                pass
    if not node.flush(cfg.linger_s):
        node.get_logger().warning("not every command was acknowledged before exit")
    return 0


def main(argv: Optional[list] = None) -> int:
    rclpy.init(args=argv)
    node = None
    try:
        node = CommandConsoleNode()
        interactive = sys.stdin.isatty()
        if interactive:
            print(GRAMMAR)
        return run_console(node, sys.stdin, interactive)
    except P.ParameterError as exc:
        print(f"command_console_node: {exc}", file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    sys.exit(main())
