"""Household tasks as a ROS action: goal conditions in, actions to the robot, a result out.

Serves ``execute_task`` (memory_interfaces/action/ExecuteTask). A goal's ``goal_conditions``
(``"INSIDE(apple, fridge): 1"``) are parsed and planned into subgoals
(:mod:`memory_nodes.planning.subgoals`), then run by
:class:`~memory_nodes.planning.executor.TaskExecutor` through the robot skills of the simulator
bridge (:class:`~memory_nodes.adapters.ai2thor_skills.AI2ThorSkills` over
:class:`~memory_nodes.nodes.planner_ros_adapters.RosWorld`) and the memory nodes
(:class:`~memory_nodes.nodes.planner_ros_adapters.RosMemory`). Feedback names each subgoal as it
starts and ends. The result code says how it ended: SUCCEEDED, FAILED (with the executor's
reason), TIMED_OUT (the goal's ``timeout_s``), CANCELED, or INVALID_GOAL (unreadable
conditions, or conditions no subgoal can achieve) before the robot moves at all.

One task runs at a time (one robot); a goal arriving while another runs is rejected. Every
wait has a deadline, so a bridge that does not answer ends the task with a reason.
Parameters: ``config/planner.yaml``.
"""

from __future__ import annotations

import math
import sys
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any

from memory_interfaces.action import ExecuteTask
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from memory_nodes.adapters.ai2thor_perception import SimPerception
from memory_nodes.adapters.ai2thor_skills import AI2ThorSkills
from memory_nodes.nodes.planner_ros_adapters import (
    BridgeError,
    CameraTopics,
    ProgressTaskExecutor,
    RosMemory,
    RosWorld,
    TaskCanceledError,
    load_navigation_map,
)
from memory_nodes.nodes.runtime import run_node
from memory_nodes.planning.executor import FailureReason, TaskResult
from memory_nodes.planning.goals import GoalParseError, parse_goal
from memory_nodes.planning.subgoals import Subgoal, SubgoalPlan, plan_subgoals

Result = ExecuteTask.Result


@dataclass
class TaskOutcome:
    """How one goal ended, before it becomes an ExecuteTask result."""

    code: int
    reasons: list[str] = field(default_factory=list)
    steps: int = 0
    subgoals_total: int = 0
    subgoals_succeeded: int = 0

    def to_msg(self) -> ExecuteTask.Result:
        return Result(
            success=self.code == Result.RESULT_SUCCEEDED,
            result_code=self.code,
            steps=self.steps,
            subgoals_total=self.subgoals_total,
            subgoals_succeeded=self.subgoals_succeeded,
            reasons=list(self.reasons),
        )


def plan_goal(goal_conditions: str, instruction: str = "") -> tuple[SubgoalPlan | None, str]:
    """Subgoals of a goal, or None and why the goal is invalid."""
    text = goal_conditions.strip()
    if not text:
        if instruction.strip():
            return None, "instructions are not understood yet; give goal_conditions"
        return None, "goal_conditions is empty"
    try:
        conditions, _repairs = parse_goal(text)
    except GoalParseError as error:
        return None, f"cannot parse goal conditions: {error}"
    plan = plan_subgoals(conditions)
    if plan.unsupported:
        return None, "unsupported conditions: " + "; ".join(plan.unsupported)
    if not plan.subgoals:
        return None, f"nothing to do for {text!r}"
    return plan, ""


def outcome_of(result: TaskResult, total: int) -> TaskOutcome:
    """The executor's result as an outcome (deadline -> TIMED_OUT, else FAILED)."""
    succeeded = sum(o.success for o in result.subgoals)
    if result.success:
        code = Result.RESULT_SUCCEEDED
    elif result.failure_reason == FailureReason.DEADLINE:
        code = Result.RESULT_TIMED_OUT
    else:
        code = Result.RESULT_FAILED
    reasons = []
    if not result.success:
        reasons.append(f"{result.failure_reason.value}: {result.failure_message}")
    return TaskOutcome(code, reasons, result.actions, total, succeeded)


class PlannerNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("planner", **node_kwargs)
        declare = self.declare_parameter
        declare("memory_mode", "full")
        declare("bridge_service", "/sim_bridge/execute")
        declare("short_term_service", "/short_term_memory/query_objects")
        declare("long_term_service", "/memory_server/query_objects")
        declare("action_effects_topic", "action_effects")
        declare("color_topic", "camera/color/image_raw")
        declare("depth_topic", "camera/depth/image_raw")
        declare("camera_info_topic", "camera/color/camera_info")
        declare("camera_pose_topic", "camera/pose")
        declare("mask_topic", "camera/instance_mask")
        declare("labels_topic", "camera/instance_labels")
        declare("action_timeout_s", 10.0)
        declare("frame_timeout_s", 2.0)
        declare("memory_timeout_s", 2.0)
        declare("default_max_steps", 300)
        declare("default_timeout_s", 300.0)
        declare("navigation_map_file", "")
        param = lambda name: self.get_parameter(name).value  # noqa: E731
        self.default_max_steps = int(param("default_max_steps"))
        self.default_timeout_s = float(param("default_timeout_s"))
        if self.default_max_steps <= 0 or not self.default_timeout_s > 0:
            raise ValueError("default_max_steps and default_timeout_s must be positive")
        map_file = str(param("navigation_map_file"))
        self.grid = load_navigation_map(map_file) if map_file else None

        self._stopping = threading.Event()
        self._busy = threading.Lock()
        group = ReentrantCallbackGroup()
        topics = CameraTopics(
            color=param("color_topic"),
            depth=param("depth_topic"),
            camera_info=param("camera_info_topic"),
            pose=param("camera_pose_topic"),
            instance_mask=param("mask_topic"),
            instance_labels=param("labels_topic"),
        )
        self.world = RosWorld(
            self,
            param("bridge_service"),
            topics,
            service_timeout_s=float(param("action_timeout_s")),
            frame_timeout_s=float(param("frame_timeout_s")),
            callback_group=group,
            interrupt=self._stopping,
        )
        self.memory = RosMemory(
            self,
            param("memory_mode"),
            short_term_service=param("short_term_service"),
            long_term_service=param("long_term_service"),
            effects_topic=param("action_effects_topic"),
            timeout_s=float(param("memory_timeout_s")),
            callback_group=group,
            interrupt=self._stopping,
        )
        self.robot = AI2ThorSkills(self.world, SimPerception())
        self.server = ActionServer(
            self,
            ExecuteTask,
            "execute_task",
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=group,
        )
        self.get_logger().info(
            f"planner ready: memory {self.memory.mode.value}, bridge {param('bridge_service')}"
        )

    def _on_goal(self, _goal: ExecuteTask.Goal) -> GoalResponse:
        if not self._busy.acquire(blocking=False):
            self.get_logger().warning("rejected a task: another task is running")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _execute(self, goal_handle: ServerGoalHandle) -> ExecuteTask.Result:
        try:
            outcome = self._run(goal_handle)
        except Exception as error:  # a bug must end the goal with a reason, not hang it
            self.get_logger().error(f"task failed:\n{traceback.format_exc()}")
            outcome = TaskOutcome(Result.RESULT_FAILED, [f"internal error: {error!r}"])
        finally:
            self._busy.release()
        if outcome.code == Result.RESULT_SUCCEEDED:
            goal_handle.succeed()
        elif outcome.code == Result.RESULT_CANCELED and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        world = self.world
        self.get_logger().info(
            f"task {goal_handle.request.goal_conditions!r}: code {outcome.code} after "
            f"{outcome.steps} actions ({world.bridge_time_s:.1f} s at the bridge, "
            f"{world.frame_wait_s:.1f} s waiting for frames); "
            f"{'; '.join(outcome.reasons) or 'no failures'}"
        )
        return outcome.to_msg()

    def _run(self, goal_handle: ServerGoalHandle) -> TaskOutcome:
        goal: ExecuteTask.Goal = goal_handle.request
        self.world.reset_counters()
        plan, why = plan_goal(goal.goal_conditions, goal.instruction)
        if plan is None:
            return TaskOutcome(Result.RESULT_INVALID_GOAL, [why])
        max_steps = int(goal.max_steps) or self.default_max_steps
        timeout_s = float(goal.timeout_s) if goal.timeout_s > 0 else self.default_timeout_s
        if not math.isfinite(timeout_s):
            return TaskOutcome(Result.RESULT_INVALID_GOAL, [f"timeout_s is {goal.timeout_s}"])
        total = len(plan.subgoals)

        def _feedback(index: int, subgoal: Subgoal, status: str, steps: int) -> None:
            goal_handle.publish_feedback(
                ExecuteTask.Feedback(
                    subgoal_index=index, subgoal=str(subgoal), status=status, steps=steps
                )
            )

        self.world.should_stop = lambda: goal_handle.is_cancel_requested or self._stopping.is_set()
        executor = None
        try:
            executor = ProgressTaskExecutor(
                self.robot,
                self.memory,
                max_steps=max_steps,
                deadline_s=timeout_s,
                start_stamp=self.get_clock().now().nanoseconds * 1e-9,
                grid=self.grid,
                on_subgoal=_feedback,
            )
            outcome = outcome_of(executor.run(plan), total)
        except TaskCanceledError as stop:
            outcome = self._stopped(executor, total, Result.RESULT_CANCELED, f"canceled: {stop}")
        except BridgeError as error:
            outcome = self._stopped(executor, total, Result.RESULT_FAILED, f"bridge: {error}")
        if self.world.num_missed_frames:
            outcome.reasons.append(
                f"{self.world.num_missed_frames} camera frames did not arrive in time"
            )
        return outcome

    def _stopped(
        self, executor: ProgressTaskExecutor | None, total: int, code: int, reason: str
    ) -> TaskOutcome:
        """An outcome for a run the world ended (cancel, silent bridge) mid-action."""
        if executor is None:
            return TaskOutcome(code, [reason], self.world.num_actions, total)
        result = executor.result
        succeeded = sum(o.success for o in result.subgoals)
        return TaskOutcome(code, [reason], result.actions, total, succeeded)

    def destroy_node(self) -> None:
        self._stopping.set()  # a running task stops at its next wait
        self.server.destroy()
        super().destroy_node()


NODE_CLASS = PlannerNode


def main(args: list[str] | None = None) -> int:
    return run_node(PlannerNode, args)


if __name__ == "__main__":
    sys.exit(main())
