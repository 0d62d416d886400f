"""``memstack``: the command line of the memory stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from memory_nodes import __version__


def _cmd_up(args: argparse.Namespace) -> int:
    from memory_nodes.launcher import up

    return up(args.config, domain_id=args.domain_id)


def _cmd_env(args: argparse.Namespace) -> int:
    from memory_nodes.ros_env import DDS_VARIABLES, local_dds_environment

    # The user's exported values win (``--domain-id`` over an exported ROS_DOMAIN_ID).
    env = local_dds_environment(domain_id=args.domain_id)
    for key in DDS_VARIABLES:
        print(f"export {key}={env[key]}")
    return 0


def _cmd_check_config(args: argparse.Namespace) -> int:
    from memory_nodes.core.errors import StackConfigError
    from memory_nodes.launcher import load_stack_config

    try:
        config = load_stack_config(args.config)
    except StackConfigError as error:
        print(f"error: {one_line(str(error))}", file=sys.stderr)
        return 2
    for node in config.nodes:
        print(f"{node.label}: {node.executable} parameters={node.parameters or '-'}")
    return 0


def _cmd_sim_path(args: argparse.Namespace) -> int:
    import sim

    print(sim.executable_path())
    return 0


EVALUATIONS = {
    "tasks": "memory_nodes.evaluation.tasks",
    "fidelity": "memory_nodes.evaluation.fidelity",
    "plot": "memory_nodes.evaluation.figures",
}


def _cmd_eval(args: argparse.Namespace) -> int:
    import importlib

    return int(importlib.import_module(EVALUATIONS[args.what]).main(args.eval_args))


def _cmd_demo(args: argparse.Namespace) -> int:
    from memory_nodes.demo.household_demo import main as demo_main

    return demo_main(args.demo_args)


def _cmd_detector(args: argparse.Namespace) -> int:
    from memory_nodes.detection.cli import main as detector_main

    return detector_main(args.detector_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memstack", description=__doc__)
    parser.add_argument("--version", action="version", version=f"memstack {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the nodes of a stack file and supervise them")
    up.add_argument("--config", required=True, help="stack file, e.g. config/stack.yaml")
    up.add_argument(
        "--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: exported, or random)"
    )
    up.set_defaults(func=_cmd_up)

    check = commands.add_parser("check-config", help="validate a stack file without starting it")
    check.add_argument("config")
    check.set_defaults(func=_cmd_check_config)

    env = commands.add_parser("env", help="print the local-only DDS environment as exports")
    env.add_argument(
        "--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: exported, or random)"
    )
    env.set_defaults(func=_cmd_env)
    sim_parser = commands.add_parser("sim", help="the household simulator")
    sim_commands = sim_parser.add_subparsers(dest="sim_command", required=True)
    sim_path = sim_commands.add_parser(
        "path", help="print the program to pass as ai2thor's local_executable_path"
    )
    sim_path.set_defaults(func=_cmd_sim_path)

    evaluate = commands.add_parser(
        "eval", help="evaluations: tasks (planner), fidelity (memory), plot (a tasks report)"
    )
    evaluate.add_argument("what", choices=sorted(EVALUATIONS))
    evaluate.add_argument("eval_args", nargs=argparse.REMAINDER)
    evaluate.set_defaults(func=_cmd_eval)

    demo = commands.add_parser(
        "demo", help="run the demo (see memory_nodes/demo/household_demo.py)"
    )
    demo.add_argument("demo_args", nargs=argparse.REMAINDER)
    demo.set_defaults(func=_cmd_demo)

    detector = commands.add_parser(
        "detector", help="the detector: dataset, train, evaluate, export (see docs/detector.md)"
    )
    detector.add_argument("detector_args", nargs=argparse.REMAINDER)
    detector.set_defaults(func=_cmd_detector)
    return parser


#: Longest error line printed: a message may quote the input, and the input may be huge.
MAX_ERROR_CHARS = 400


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` on one line (whitespace runs become one space), cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def error_message(error: BaseException) -> str:
    """What went wrong in one line (a KeyError's message without the quotes it adds)."""
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    return one_line(text)


def _run(argv: list[str]) -> int:
    # Subcommands with their own option parsers get their arguments untouched (argparse's
    # REMAINDER does not pass on leading "--options").
    if argv[:1] == ["demo"]:
        return _cmd_demo(argparse.Namespace(demo_args=argv[1:]))
    if argv[:1] == ["detector"]:
        return _cmd_detector(argparse.Namespace(detector_args=argv[1:]))
    if argv[:1] == ["eval"] and len(argv) > 1 and argv[1] in EVALUATIONS:
        return _cmd_eval(argparse.Namespace(what=argv[1], eval_args=argv[2:]))
    args = build_parser().parse_args(argv)
    return int(args.func(args))


def main(argv: Sequence[str] | None = None) -> int:
    """The exit code: 0 done, 1 failed, 2 bad input (one line on stderr, no traceback)."""
    from memory_nodes.core.errors import MemoryStackError

    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except MemoryStackError as error:  # raised on purpose: the message says what is wrong
        print(f"memstack: error: {error_message(error)}", file=sys.stderr)
        return 2
    except OSError as error:  # a file or folder the user named cannot be read or written
        print(f"memstack: error: {error_message(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
