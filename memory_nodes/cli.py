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
    from memory_nodes.ros_env import local_dds_environment

    env = local_dds_environment(base={}, domain_id=args.domain_id)
    for key in sorted(env):
        print(f"export {key}={env[key]}")
    return 0


def _cmd_check_config(args: argparse.Namespace) -> int:
    from memory_nodes.core.errors import StackConfigError
    from memory_nodes.launcher import load_stack_config

    try:
        config = load_stack_config(args.config)
    except StackConfigError as error:
        print(f"error: {error}", file=sys.stderr)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memstack", description=__doc__)
    parser.add_argument("--version", action="version", version=f"memstack {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the nodes of a stack file and supervise them")
    up.add_argument("--config", required=True, help="stack file, e.g. config/stack.yaml")
    up.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: random)")
    up.set_defaults(func=_cmd_up)

    check = commands.add_parser("check-config", help="validate a stack file without starting it")
    check.add_argument("config")
    check.set_defaults(func=_cmd_check_config)

    env = commands.add_parser("env", help="print the local-only DDS environment as exports")
    env.add_argument("--domain-id", type=int, default=None)
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Subcommands with their own option parsers get their arguments untouched (argparse's
    # REMAINDER does not pass on leading "--options").
    if argv[:1] == ["demo"]:
        return _cmd_demo(argparse.Namespace(demo_args=argv[1:]))
    if argv[:1] == ["eval"] and len(argv) > 1 and argv[1] in EVALUATIONS:
        return _cmd_eval(argparse.Namespace(what=argv[1], eval_args=argv[2:]))
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
